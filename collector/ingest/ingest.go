// Package ingest is the collector's first stage: it consumes observations
// from Kafka as a member of a consumer group, and for each batch drives the
// rest of the pipeline, in this order:
//
//	decode → dead-letter the invalid → drop duplicates (store.Fresh) →
//	plan state and changes (state.Plan) → write history and publish events →
//	write current state and per-record rows (store.WriteDerived) →
//	state.Commit → write raw rows (store.WriteRaw) → commit offsets
//
// Batches overlap by one step: a batch's raw rows are written while the
// next batch goes through the steps before them, and its offsets are
// committed once they are stored, before the next batch's (see handle).
//
// Who owns a batch. Run fetches messages into a batch until it holds
// MaxRows messages or MaxWait has passed since its first message. From then
// until its offsets are committed the batch belongs to Run alone; it is
// neither split nor dropped. A message that is not a valid observation is
// written to the dead-letter topic with the reason and its origin in
// headers; the valid ones go through the pipeline above. Only when the
// dead letters and events are acknowledged by Kafka and ClickHouse has
// accepted every row are the batch's offsets committed.
//
// What an error means. A failed dead-letter write, event publish or
// ClickHouse statement pauses ingest: the whole batch is retried (from the
// duplicate check on) with capped exponential backoff, and every failure
// is logged with the operation that failed. Nothing is dropped and no
// offset is committed past data not yet written. Because each step is
// derived from the steps after it (history from current state, current
// state from raw rows), a retried batch derives the same rows, which fold
// into those already written; events are at-least-once and carry a stable
// id. A failed commit is logged and counted but not retried: the next
// batch's commit covers it, and if the collector stops first the messages
// are delivered again and dropped as duplicates. Run returns nil when ctx
// is done, and the batch in hand is then left uncommitted for the next
// consumer.
//
// Records are dropped only as duplicates; invalid messages leave through
// the dead-letter topic.
//
// Decoding cost. Most inventory observations repeat the device's last
// state. The fetcher hashes each inventory payload without decoding it and
// asks the state stage whether the device's last-known payload had the same
// bytes; if so only the envelope is decoded (those bytes were decoded and
// validated before). Everything else is decoded and validated in full.
//
// Delivery after a rebalance. A batch fetched before a rebalance is still
// written and committed; if its partition moved to another collector,
// both may write the same observations, and the store's
// de-duplication (and ReplacingMergeTree merges) absorb that.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"

	"github.com/racktrack/racktrack/collector/state"
	"github.com/racktrack/racktrack/collector/store"
	racktrackv1 "github.com/racktrack/racktrack/proto/racktrack/v1"
)

// Dead-letter headers. The message key and value are the original's.
const (
	HeaderReason    = "racktrack-dlq-reason"
	HeaderTopic     = "racktrack-original-topic"
	HeaderPartition = "racktrack-original-partition"
	HeaderOffset    = "racktrack-original-offset"
	HeaderTime      = "racktrack-original-time"
)

// Defaults for Options.
const (
	DefaultBackoffMin    = 100 * time.Millisecond
	DefaultBackoffMax    = 10 * time.Second
	DefaultCommitTimeout = 10 * time.Second
)

// Options configure an Ingester.
type Options struct {
	// Brokers, Topic, DLQTopic and GroupID are required.
	Brokers  []string
	Topic    string
	DLQTopic string
	GroupID  string
	// MaxRows and MaxWait bound a batch (see the package doc). Required.
	MaxRows int
	MaxWait time.Duration
	// Store receives the batches. Required.
	Store *store.Store
	// Tracker derives current state and changes. Required.
	Tracker *state.Tracker
	// EventsTopic receives an Event per change; "" publishes none.
	EventsTopic string
	// StaleAfter and SweepInterval: every SweepInterval, servers and
	// switches not observed for StaleAfter are declared disappeared
	// (history and event). Either 0 disables the sweep.
	StaleAfter, SweepInterval time.Duration
	// Now is the sweep's clock; nil means time.Now.
	Now func() time.Time
	// BackoffMin and BackoffMax bound the pause between retries of a
	// failed write (defaults 100ms and 10s).
	BackoffMin, BackoffMax time.Duration
	// Logger receives failures and retries. Nil discards.
	Logger *slog.Logger
	// Registerer receives the stage's metrics. Nil registers nowhere.
	Registerer prometheus.Registerer
}

// Ingester consumes, stores and commits. Create it with New; Run may be
// called once.
type Ingester struct {
	opts Options
	log  *slog.Logger
	m    *metrics
}

// New checks opts and registers the metrics.
func New(opts Options) (*Ingester, error) {
	switch {
	case len(opts.Brokers) == 0:
		return nil, errors.New("ingest: Options.Brokers is empty")
	case opts.Topic == "" || opts.DLQTopic == "" || opts.GroupID == "":
		return nil, errors.New("ingest: Options.Topic, DLQTopic and GroupID are required")
	case opts.MaxRows <= 0 || opts.MaxWait <= 0:
		return nil, errors.New("ingest: Options.MaxRows and MaxWait must be positive")
	case opts.Store == nil || opts.Tracker == nil:
		return nil, errors.New("ingest: Options.Store and Tracker are required")
	}
	if opts.BackoffMin <= 0 {
		opts.BackoffMin = DefaultBackoffMin
	}
	if opts.BackoffMax < opts.BackoffMin {
		opts.BackoffMax = max(DefaultBackoffMax, opts.BackoffMin)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	reg := opts.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("ingest: register metrics: %w", err)
	}
	return &Ingester{opts: opts, log: logger.With("stage", "ingest"), m: m}, nil
}

// Run consumes until ctx is done, then leaves the group and returns nil.
// Unreachable brokers are waited out (the reader retries, failures are
// logged and counted); Run returns an error only if the reader was closed
// underneath it.
func (in *Ingester) Run(ctx context.Context) error {
	queue := min(max(in.opts.MaxRows, 100), 10_000)
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        in.opts.Brokers,
		GroupID:        in.opts.GroupID,
		Topic:          in.opts.Topic,
		QueueCapacity:  queue,
		MinBytes:       1,
		MaxBytes:       16 << 20,
		MaxWait:        250 * time.Millisecond,
		CommitInterval: 0, // synchronous: CommitMessages returns once Kafka has the offsets
		StartOffset:    kafka.FirstOffset,
		// Commits happen once per batch, synchronously; a retried write
		// can take long, but the group heartbeat runs on its own.
		HeartbeatInterval: time.Second,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  time.Second,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    time.Second,
		Logger:            kafkaLogger(in.log, slog.LevelDebug),
		ErrorLogger:       kafkaLogger(in.log, slog.LevelDebug),
	})
	// An own transport, so its idle connections close with Run.
	transport := &kafka.Transport{ClientID: "racktrack-collector"}
	defer transport.CloseIdleConnections()
	dlq := &kafka.Writer{
		Transport:              transport,
		Addr:                   kafka.TCP(in.opts.Brokers...),
		Topic:                  in.opts.DLQTopic,
		Balancer:               &kafka.Hash{},
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           5 * time.Millisecond,
		MaxAttempts:            3,
		AllowAutoTopicCreation: true,
		Logger:                 kafkaLogger(in.log, slog.LevelDebug),
		ErrorLogger:            kafkaLogger(in.log, slog.LevelDebug),
	}
	var events *kafka.Writer
	if in.opts.EventsTopic != "" {
		events = &kafka.Writer{
			Transport:              transport,
			Addr:                   kafka.TCP(in.opts.Brokers...),
			Topic:                  in.opts.EventsTopic,
			Balancer:               &kafka.Hash{},
			RequiredAcks:           kafka.RequireAll,
			BatchTimeout:           time.Millisecond,
			BatchSize:              1000,
			MaxAttempts:            3,
			AllowAutoTopicCreation: true,
			Logger:                 kafkaLogger(in.log, slog.LevelDebug),
			ErrorLogger:            kafkaLogger(in.log, slog.LevelDebug),
		}
	}
	defer func() {
		if events != nil {
			if err := events.Close(); err != nil {
				in.log.Warn("close events writer", "err", err)
			}
		}
		// Close leaves the group, so partitions move at once; commits are
		// synchronous, so none is pending.
		if err := r.Close(); err != nil {
			in.log.Warn("close Kafka reader", "err", err)
		}
		if err := dlq.Close(); err != nil {
			in.log.Warn("close dead-letter writer", "err", err)
		}
	}()
	in.log.Info("consuming", "topic", in.opts.Topic, "group", in.opts.GroupID, "brokers", in.opts.Brokers)

	// Two goroutines, one batch apart: the fetcher collects and decodes
	// the next batch while the writer stores the current one (and the
	// raw rows of the one before). Batches stay in order, so offsets are
	// committed in order.
	batches := make(chan *batch, 1)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(batches)
		delay := in.opts.BackoffMin
		for {
			msgs, err := in.fetch(gctx, r)
			if len(msgs) > 0 {
				select {
				case batches <- in.decode(msgs):
				case <-gctx.Done():
					return nil // the batch stays uncommitted
				}
			}
			switch {
			case err == nil:
				delay = in.opts.BackoffMin
				continue
			case gctx.Err() != nil:
				return nil
			case errors.Is(err, io.EOF):
				return fmt.Errorf("ingest: fetch from %s: reader closed: %w", in.opts.Topic, err)
			}
			// The reader could not join the group (brokers unreachable);
			// it keeps trying on its own.
			in.m.errors.WithLabelValues("fetch").Inc()
			in.log.Warn("fetch failed; the reader keeps retrying", "topic", in.opts.Topic, "group", in.opts.GroupID,
				"retry_in", delay, "err", err)
			t := time.NewTimer(delay)
			select {
			case <-gctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			delay = min(delay*2, in.opts.BackoffMax)
		}
	})
	if in.opts.StaleAfter > 0 && in.opts.SweepInterval > 0 {
		g.Go(func() error {
			in.sweepLoop(gctx, events)
			return nil
		})
	}
	g.Go(func() error {
		// One batch's raw rows are written while the next is handled
		// (see handle); pending is that batch, not yet committed.
		// It is committed as soon as its raw rows are stored, or before
		// the next batch is, whichever comes first.
		var pending *rawWrite
		for {
			var stored <-chan struct{}
			if pending != nil {
				stored = pending.done
			}
			select {
			case b, ok := <-batches:
				if !ok {
					if pending != nil {
						_ = in.finish(gctx, r, pending) // an error is ctx's: the batch stays uncommitted
					}
					return nil
				}
				next, err := in.handle(gctx, r, dlq, events, b, pending)
				if err != nil {
					return nil // ctx is done; the batches stay uncommitted
				}
				pending = next
			case <-stored:
				if err := in.finish(gctx, r, pending); err != nil {
					return nil // ctx is done; the batch stays uncommitted
				}
				pending = nil
			}
		}
	})
	return g.Wait()
}

// batch is one fetched batch, decoded.
type batch struct {
	msgs []kafka.Message
	recs []store.Record
	dead []kafka.Message // dead letters, ready to write
}

// decode splits msgs into valid records and dead letters.
func (in *Ingester) decode(msgs []kafka.Message) *batch {
	b := &batch{msgs: msgs, recs: make([]store.Record, 0, len(msgs))}
	oracle := newBatchOracle(in.opts.Tracker.Unchanged)
	for _, m := range msgs {
		rec, err := decodeRecord(m.Value, m.Partition, m.Offset, oracle.unchanged)
		oracle.done(err == nil)
		if err != nil {
			in.log.Warn("dead-lettering invalid message", "partition", m.Partition, "offset", m.Offset,
				"key", string(m.Key), "reason", reasonOf(err))
			b.dead = append(b.dead, deadLetter(m, reasonOf(err)))
			continue
		}
		b.recs = append(b.recs, rec)
	}
	return b
}

// fetch collects one batch. It blocks for the first message, then collects
// until MaxRows or MaxWait. It returns the messages collected and, if
// fetching stopped for a reason other than the batch filling up, that
// error (ctx's included).
func (in *Ingester) fetch(ctx context.Context, r *kafka.Reader) ([]kafka.Message, error) {
	first, err := r.FetchMessage(ctx)
	if err != nil {
		return nil, err
	}
	msgs := make([]kafka.Message, 1, min(in.opts.MaxRows, 4096))
	msgs[0] = first
	wctx, cancel := context.WithTimeout(ctx, in.opts.MaxWait)
	defer cancel()
	for len(msgs) < in.opts.MaxRows {
		m, err := r.FetchMessage(wctx)
		if err != nil {
			if wctx.Err() != nil && ctx.Err() == nil {
				return msgs, nil // MaxWait passed: the batch is complete
			}
			return msgs, err
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// handle writes one batch, except its raw rows, which it starts writing
// in the background (the returned *rawWrite); then it finishes prev, the
// batch before (waits for its raw rows and commits its offsets). So the
// server stores batch N's raw rows while batch N+1 is checked, planned and
// its derived rows written, and offsets are still committed in order,
// each only after its whole batch is stored. Records of b that are also
// in prev are dropped as duplicates: prev's raw rows are not yet stored
// where Fresh looks, but will be before anything of b is committed.
//
// It returns an error only when ctx is done before the batch was written;
// prev is then waited for but not committed.
func (in *Ingester) handle(ctx context.Context, r *kafka.Reader, dlq, events *kafka.Writer, b *batch, prev *rawWrite) (*rawWrite, error) {
	msgs, recs, dead := b.msgs, b.recs, b.dead
	in.seen(msgs)
	start := time.Now()
	if len(dead) > 0 {
		err := in.retry(ctx, func(ctx context.Context) error {
			if err := dlq.WriteMessages(ctx, dead...); err != nil {
				return &KafkaError{Op: "write dead letters", Topic: in.opts.DLQTopic, Err: err}
			}
			return nil
		}, "write dead letters")
		if err != nil {
			prev.wait()
			return nil, err
		}
		in.m.dlq.Add(float64(len(dead)))
	}
	if prev != nil {
		recs = prev.without(recs)
	}
	var (
		fresh                               []store.Record
		changes                             int
		checked, planned, historied, pubbed time.Time
	)
	err := in.retry(ctx, func(ctx context.Context) error {
		var err error
		if fresh, err = in.opts.Store.Fresh(ctx, recs); err != nil {
			return err
		}
		checked = time.Now()
		// History, then events, then current state, then raw rows: each
		// is derived from what follows it, so a batch that fails
		// part-way derives the same again (see package state).
		plan, err := in.opts.Tracker.Plan(ctx, fresh)
		if err != nil {
			return err
		}
		planned = time.Now()
		// History and events do not depend on each other: they are
		// written at the same time, and both before current state.
		historyDone := make(chan error, 1)
		go func() {
			err := in.opts.Store.WriteChanges(ctx, plan.Changes)
			historied = time.Now()
			historyDone <- err
		}()
		pubErr := in.publish(ctx, events, plan.Events)
		pubbed = time.Now()
		if err := <-historyDone; err != nil {
			return err
		}
		if pubErr != nil {
			return pubErr
		}
		if err := in.opts.Store.WriteDerived(ctx, store.Batch{Raw: fresh, State: plan.State}); err != nil {
			return err
		}
		// Committed to the tracker before the raw rows are stored: if
		// that write fails it is retried alone, and if the collector
		// stops first, the redelivered records find this state stored
		// in device_state.
		in.opts.Tracker.Commit(plan)
		changes = len(plan.Changes)
		return nil
	}, "")
	if err != nil {
		prev.wait()
		return nil, err
	}
	derived := time.Now()
	if prev != nil {
		if err := in.finish(ctx, r, prev); err != nil {
			return nil, err
		}
	}
	in.log.Debug("batch derived rows written", "messages", len(msgs), "fresh", len(fresh),
		"duplicates", len(b.recs)-len(fresh), "dead_letters", len(dead), "changes", changes,
		"check", checked.Sub(start), "plan", planned.Sub(checked), "history", historied.Sub(planned),
		"events", pubbed.Sub(planned), "write", derived.Sub(latest(pubbed, historied)), "wait_previous", time.Since(derived))
	w := &rawWrite{b: b, fresh: fresh, start: start, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		w.err = in.retry(ctx, func(ctx context.Context) error { return in.opts.Store.WriteRaw(ctx, fresh) }, "")
	}()
	return w, nil
}

// latest returns the later of a and b.
func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// rawWrite is a batch whose derived rows are stored and whose raw rows
// are being written by a goroutine that handle started; finish waits for
// it and commits the batch.
type rawWrite struct {
	b     *batch
	fresh []store.Record
	start time.Time
	done  chan struct{}
	err   error // set before done is closed: nil, or ctx's error
	keys  map[store.Key]struct{}
}

// wait waits for the raw write to end; w may be nil.
func (w *rawWrite) wait() {
	if w != nil {
		<-w.done
	}
}

// without returns the records of recs whose key is not among w's fresh
// records.
func (w *rawWrite) without(recs []store.Record) []store.Record {
	if len(w.fresh) == 0 {
		return recs
	}
	if w.keys == nil {
		w.keys = make(map[store.Key]struct{}, len(w.fresh))
		for _, r := range w.fresh {
			w.keys[r.KeyOf()] = struct{}{}
		}
	}
	var out []store.Record
	for i, r := range recs {
		if _, dup := w.keys[r.KeyOf()]; dup {
			if out == nil {
				out = append(make([]store.Record, 0, len(recs)), recs[:i]...)
			}
			continue
		}
		if out != nil {
			out = append(out, r)
		}
	}
	if out == nil {
		return recs
	}
	return out
}

// finish waits for w's raw rows to be stored, then commits w's batch. It
// returns an error only when ctx is done first; the batch then stays
// uncommitted.
func (in *Ingester) finish(ctx context.Context, r *kafka.Reader, w *rawWrite) error {
	<-w.done
	if w.err != nil {
		return w.err
	}
	b := w.b
	stored := len(w.fresh)
	in.m.messages.WithLabelValues("invalid").Add(float64(len(b.dead)))
	in.m.messages.WithLabelValues("stored").Add(float64(stored))
	in.m.messages.WithLabelValues("duplicate").Add(float64(len(b.recs) - stored))
	wrote := time.Now()
	in.commit(ctx, r, b.msgs)
	in.m.batches.Inc()
	in.m.batchSize.Observe(float64(len(b.msgs)))
	in.m.writeSeconds.Observe(time.Since(w.start).Seconds())
	in.log.Debug("batch committed", "messages", len(b.msgs), "stored", stored,
		"duplicates", len(b.recs)-stored, "dead_letters", len(b.dead), "elapsed", time.Since(w.start),
		"commit", time.Since(wrote))
	return nil
}

// commit commits the highest offset of each partition in msgs.
func (in *Ingester) commit(ctx context.Context, r *kafka.Reader, msgs []kafka.Message) {
	last := map[int]kafka.Message{}
	for _, m := range msgs {
		if l, ok := last[m.Partition]; !ok || m.Offset > l.Offset {
			last[m.Partition] = m
		}
	}
	commits := make([]kafka.Message, 0, len(last))
	for _, m := range last {
		commits = append(commits, m)
	}
	cctx, cancel := context.WithTimeout(ctx, DefaultCommitTimeout)
	defer cancel()
	if err := r.CommitMessages(cctx, commits...); err != nil {
		if ctx.Err() != nil {
			return
		}
		// Not retried: the next batch's commit covers these offsets, and a
		// redelivery is dropped as duplicates.
		in.m.errors.WithLabelValues("commit offsets").Inc()
		in.log.Warn("commit offsets failed; the next commit covers them", "topic", in.opts.Topic,
			"partitions", len(commits), "err", err)
		return
	}
	in.m.lastCommit.SetToCurrentTime()
}

// retry calls f until it succeeds or ctx is done, pausing with capped
// exponential backoff (and jitter) between attempts. op names the
// operation for logs and metrics when the error is not a *store.OpError.
func (in *Ingester) retry(ctx context.Context, f func(context.Context) error, op string) error {
	delay := in.opts.BackoffMin
	for attempt := 1; ; attempt++ {
		err := f(ctx)
		if err == nil {
			if attempt > 1 {
				in.m.retrying.Set(0)
				in.log.Info("write succeeded after retries; ingest resumes", "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		failed, level := op, slog.LevelWarn
		var (
			oe *store.OpError
			ke *KafkaError
		)
		if errors.As(err, &ke) {
			failed = ke.Op
		}
		if errors.As(err, &oe) {
			failed = oe.Op
			if oe.Permanent() {
				// Retried anyway: dropping data is worse than waiting
				// for an operator to fix the schema or the grants.
				level = slog.LevelError
			}
		}
		in.m.errors.WithLabelValues(failed).Inc()
		in.m.retrying.Set(1)
		pause := jitter(delay)
		in.log.Log(ctx, level, "write failed; ingest paused, retrying the same batch",
			"op", failed, "attempt", attempt, "retry_in", pause, "err", err)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(delay*2, in.opts.BackoffMax)
	}
}

// sweepLoop declares silent devices disappeared every SweepInterval until
// ctx is done. A failed sweep is logged and tried again at the next tick.
func (in *Ingester) sweepLoop(ctx context.Context, events *kafka.Writer) {
	t := time.NewTicker(in.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := in.sweep(ctx, events)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			in.m.errors.WithLabelValues("sweep disappeared devices").Inc()
			in.log.Warn("disappeared-device sweep failed; retrying at the next tick", "err", err)
			continue
		}
		in.m.sweeps.Inc()
		if n > 0 {
			in.log.Info("declared devices disappeared", "devices", n, "stale_after", in.opts.StaleAfter)
		}
	}
}

// sweep finds devices silent for StaleAfter, publishes their
// device.disappeared events, then records the changes. Events go first:
// if recording fails, the next sweep finds the devices again and
// publishes again (same ids), so no event is lost.
func (in *Ingester) sweep(ctx context.Context, events *kafka.Writer) (int, error) {
	rows, err := in.opts.Store.Disappeared(ctx, in.opts.Now(), in.opts.StaleAfter)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	evs := make([]*racktrackv1.Event, len(rows))
	for i, r := range rows {
		evs[i] = state.DisappearedEvent(r)
	}
	if err := in.publish(ctx, events, evs); err != nil {
		return 0, err
	}
	if err := in.opts.Store.WriteChanges(ctx, rows); err != nil {
		return 0, err
	}
	return len(rows), nil
}

// KafkaError is a failed write to a Kafka topic.
type KafkaError struct {
	Op    string
	Topic string
	Err   error
}

func (e *KafkaError) Error() string { return fmt.Sprintf("kafka %s: %s: %v", e.Topic, e.Op, e.Err) }

// Unwrap returns the cause.
func (e *KafkaError) Unwrap() error { return e.Err }

// publish writes events keyed by site/device, so each device's events keep
// their order.
func (in *Ingester) publish(ctx context.Context, w *kafka.Writer, events []*racktrackv1.Event) error {
	if w == nil || len(events) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, len(events))
	for i, e := range events {
		v, err := proto.Marshal(e)
		if err != nil {
			return &KafkaError{Op: "encode event", Topic: in.opts.EventsTopic, Err: err}
		}
		msgs[i] = kafka.Message{Key: []byte(e.GetSite() + "/" + e.GetDevice()), Value: v,
			Headers: []kafka.Header{{Key: "racktrack-event-kind", Value: []byte(e.GetKind())}}}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		return &KafkaError{Op: "publish events", Topic: in.opts.EventsTopic, Err: err}
	}
	in.m.events.Add(float64(len(msgs)))
	return nil
}

// seen tells the tracker which offsets of each partition the batch holds.
func (in *Ingester) seen(msgs []kafka.Message) {
	type span struct{ first, last int64 }
	spans := map[int]span{}
	for _, m := range msgs {
		s, ok := spans[m.Partition]
		if !ok {
			s = span{m.Offset, m.Offset}
		}
		s.first, s.last = min(s.first, m.Offset), max(s.last, m.Offset)
		spans[m.Partition] = s
	}
	for p, s := range spans {
		in.opts.Tracker.Seen(p, s.first, s.last)
	}
}

// jitter spreads d over [0.8d, 1.2d).
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// deadLetter wraps m for the dead-letter topic.
func deadLetter(m kafka.Message, reason string) kafka.Message {
	headers := make([]kafka.Header, 0, len(m.Headers)+5)
	headers = append(headers, m.Headers...)
	headers = append(headers,
		kafka.Header{Key: HeaderReason, Value: []byte(reason)},
		kafka.Header{Key: HeaderTopic, Value: []byte(m.Topic)},
		kafka.Header{Key: HeaderPartition, Value: []byte(strconv.Itoa(m.Partition))},
		kafka.Header{Key: HeaderOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
	)
	if !m.Time.IsZero() {
		headers = append(headers, kafka.Header{Key: HeaderTime, Value: []byte(m.Time.UTC().Format(time.RFC3339Nano))})
	}
	return kafka.Message{Key: m.Key, Value: m.Value, Headers: headers}
}

// kafkaLogger adapts kafka-go's Printf logging to slog at level.
func kafkaLogger(l *slog.Logger, level slog.Level) kafka.Logger {
	return kafka.LoggerFunc(func(format string, args ...any) {
		ctx := context.Background()
		if l.Enabled(ctx, level) {
			l.Log(ctx, level, fmt.Sprintf(format, args...), "component", "kafka-go")
		}
	})
}
