package spool

import (
	"testing"
	"time"
)

// BenchmarkAppendAck measures the spool's round trip: append 512-byte
// records and, in batches of 256 as the publisher would, take them with
// Next and acknowledge them. One op is one record.
func BenchmarkAppendAck(b *testing.B) {
	for _, bc := range []struct {
		name string
		sync time.Duration
	}{
		{"sync=100ms", 100 * time.Millisecond},
		{"sync=every-append", 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := open(b, b.TempDir(), Options{SyncInterval: bc.sync})
			key := []byte("site-a/bmc-0042")
			value := make([]byte, 512-len(key)-recordOverhead) // 512-byte frames
			for i := range value {
				value[i] = byte(i)
			}
			const batch = 256
			ctx := b.Context()
			b.SetBytes(512)
			b.ReportAllocs()
			b.ResetTimer()
			var seq uint64
			for i := 0; i < b.N; i++ {
				seq++
				if err := s.Append(Record{Seq: seq, Class: ClassTelemetry, Key: key, Value: value}); err != nil {
					b.Fatal(err)
				}
				if seq%batch == 0 || i == b.N-1 {
					recs, err := s.Next(ctx, batch)
					if err != nil {
						b.Fatal(err)
					}
					seqs := make([]uint64, len(recs))
					for j, r := range recs {
						seqs[j] = r.Seq
					}
					if err := s.Ack(seqs...); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
