package replay

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Export copies the posts or scored posts of src to w as JSON lines,
// unchanged byte for byte, in the replay order (event time, then post id;
// see order.go), keeping only those in [o.From, o.To). Duplicates are kept:
// an export is a faithful copy, and replay drops them when it reads it.
// Lines that are not posts are reported through o.OnBadLine and skipped.
func Export(ctx context.Context, src *Source, o Options, w io.Writer) (Stats, error) {
	o.setDefaults()
	src.KeepRaw()
	defer src.Close()
	var st Stats
	onBad := func(le *msg.LineError) {
		st.BadLines++
		if o.OnBadLine != nil {
			o.OnBadLine(le)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if o.Progress != nil {
		o.Progress.begin(src)
		defer o.Progress.finish()
	}
	pool := newDecoderPool(o.Workers)
	var reorders []*reorder
	var streams []*stream
	for i, in := range src.inputs {
		s := startStream(ctx, in, i, pool, streamOptions{chunkLines: o.ChunkLines, prefetch: 2, keepRaw: true, onBad: onBad})
		streams = append(streams, s)
		reorders = append(reorders, newReorder(s.next, o.Window))
	}
	defer func() {
		cancel()
		for _, s := range streams {
			_ = s.close()
		}
		pool.close()
	}()
	m := newMerger(reorders)
	bw := bufio.NewWriterSize(w, 256<<10)
	for {
		rec, err := m.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, err
		}
		if (!o.From.IsZero() && rec.Time.Before(o.From)) || (!o.To.IsZero() && !rec.Time.Before(o.To)) {
			st.OutOfRange++
			continue
		}
		if st.First.IsZero() {
			st.First = rec.Time
		}
		st.Last = rec.Time
		st.Records++
		if o.Progress != nil {
			o.Progress.records.Add(1)
			o.Progress.eventTime.Store(rec.Time.Unix())
		}
		bw.Write(rec.Raw)
		if err := bw.WriteByte('\n'); err != nil {
			return st, fmt.Errorf("cannot write export: %w", err)
		}
	}
	st.Late = m.late()
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("cannot write export: %w", err)
	}
	return st, ctx.Err()
}
