package ingest

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/racktrack/racktrack/collector/store"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
)

// TestPayloadKindsCoverTheContract: every member of the Observation payload
// oneof has a kind, the same one store.Kind gives the decoded message, so a
// payload added to the proto cannot silently land as "unknown".
func TestPayloadKindsCoverTheContract(t *testing.T) {
	oneof := (&racktrackv1.Observation{}).ProtoReflect().Descriptor().Oneofs().ByName("payload")
	fields := oneof.Fields()
	if fields.Len() != len(payloadKinds) {
		t.Errorf("the payload oneof has %d members, payloadKinds %d", fields.Len(), len(payloadKinds))
	}
	for i := range fields.Len() {
		f := fields.Get(i)
		o := &racktrackv1.Observation{}
		m := o.ProtoReflect()
		m.Set(f, protoreflect.ValueOfMessage(m.NewField(f).Message()))
		want := store.Kind(o)
		if want == "" {
			t.Errorf("store.Kind has no kind for payload %s (field %d)", f.Name(), f.Number())
		}
		if got := payloadKinds[f.Number()]; got != want {
			t.Errorf("payload %s (field %d): payloadKinds says %q, store.Kind %q", f.Name(), f.Number(), got, want)
		}
	}
}
