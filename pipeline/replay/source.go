package replay

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/threatwatch/threatwatch/pipeline/codec"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// lineSource yields the raw lines of one input, in input order: the lines of
// a file, or the message values of one Kafka partition.
type lineSource interface {
	// Name names the input in errors ("day1.jsonl.gz", "scored/3").
	Name() string
	// Fill appends up to n lines to c. It returns io.EOF (possibly with
	// lines) at the end of the input, or another error when the input
	// cannot be read any further.
	Fill(ctx context.Context, c *chunk, n int) error
	// Progress is how much of the input has been consumed, and the total
	// (0 when unknown), in the source's own unit (bytes, messages).
	Progress() (done, total int64)
	Close() error
}

// rawLine is one undecoded input line and its position.
type rawLine struct {
	b   []byte
	seq int64
	err error // set for a line that could not be read whole
}

// chunk is a run of consecutive lines of one source, decoded by a worker.
// Chunks keep decoding parallel while the order of records stays the input
// order: the consumer takes chunks in the order they were read.
type chunk struct {
	src   int
	name  string
	lines []rawLine
	buf   []byte   // where add copies lines; from linePool
	full  [][]byte // earlier bufs, still holding lines of this chunk
	recs  []*Record
	bad   []*msg.LineError
	err   error // the read error that ended the source, after lines
	done  chan struct{}
	keep  bool // keep raw bytes in records
}

// lineBufSize is the size of the buffers lines are copied into: a chunk of
// the default 512 lines of about 650 bytes fits in one.
const lineBufSize = 512 << 10

// linePool recycles line buffers: the decoder copies what it keeps, so a
// chunk's buffers are free again once it is decoded (unless raw lines are
// kept). Without it a replay allocated and cleared about 4 KB per post.
var linePool = sync.Pool{New: func() any { b := make([]byte, 0, lineBufSize); return &b }}

func (c *chunk) add(b []byte, seq int64) {
	if len(c.buf)+len(b) > cap(c.buf) {
		// Never grow in place: earlier lines point into the buffer. Start
		// another one.
		if c.buf != nil {
			c.full = append(c.full, c.buf)
		}
		if len(b) > lineBufSize || c.keep {
			c.buf = make([]byte, 0, max(len(b), lineBufSize))
		} else {
			c.buf = (*linePool.Get().(*[]byte))[:0]
		}
	}
	start := len(c.buf)
	c.buf = append(c.buf, b...)
	c.lines = append(c.lines, rawLine{b: c.buf[start:len(c.buf):len(c.buf)], seq: seq})
}

// release hands the chunk's line buffers back to linePool.
func (c *chunk) release() {
	for _, b := range append(c.full, c.buf) {
		if cap(b) == lineBufSize {
			b = b[:0]
			linePool.Put(&b)
		}
	}
	c.buf, c.full, c.lines = nil, nil, nil
}

// decode turns the chunk's lines into records with dec; a bad line becomes
// a LineError and the rest go on.
func (c *chunk) decode(dec *codec.ScoredDecoder) {
	c.recs = make([]*Record, 0, len(c.lines))
	for _, l := range c.lines {
		if l.err != nil {
			c.bad = append(c.bad, &msg.LineError{Name: c.name, Line: int(l.seq), Err: l.err})
			continue
		}
		b := bytes.TrimSpace(l.b)
		if len(b) == 0 {
			continue
		}
		r, err := decodeRecordWith(dec, b)
		if err != nil {
			c.bad = append(c.bad, &msg.LineError{Name: c.name, Line: int(l.seq), Err: err})
			continue
		}
		r.src, r.seq = c.src, l.seq
		if c.keep {
			r.Raw = b
		}
		c.recs = append(c.recs, r)
	}
	if !c.keep {
		// The records hold their own strings; the line bytes can go.
		c.release()
	}
	close(c.done)
}

// decoderPool decodes chunks on a fixed number of goroutines.
type decoderPool struct {
	work chan *chunk
	wg   sync.WaitGroup
}

func newDecoderPool(workers int) *decoderPool {
	p := &decoderPool{work: make(chan *chunk, workers*2)}
	for range workers {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			dec := codec.NewScoredDecoder()
			for c := range p.work {
				c.decode(dec)
			}
		}()
	}
	return p
}

func (p *decoderPool) close() {
	close(p.work)
	p.wg.Wait()
}

// stream reads one source ahead in chunks and hands out its records in
// input order. At most prefetch chunks are in memory per source.
type stream struct {
	src    lineSource
	idx    int
	chunks chan *chunk
	cur    *chunk
	pos    int
	onBad  func(*msg.LineError)
	cancel context.CancelFunc
	done   chan struct{}
}

type streamOptions struct {
	chunkLines int
	prefetch   int
	keepRaw    bool
	onBad      func(*msg.LineError)
}

func startStream(ctx context.Context, src lineSource, idx int, pool *decoderPool, o streamOptions) *stream {
	ctx, cancel := context.WithCancel(ctx)
	s := &stream{src: src, idx: idx, chunks: make(chan *chunk, o.prefetch), onBad: o.onBad, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer close(s.chunks)
		for {
			c := &chunk{src: idx, name: src.Name(), done: make(chan struct{}), keep: o.keepRaw}
			err := src.Fill(ctx, c, o.chunkLines)
			if err != nil && !errors.Is(err, io.EOF) {
				c.err = err
			}
			select {
			case s.chunks <- c:
			case <-ctx.Done():
				return
			}
			select {
			case pool.work <- c:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return s
}

// next returns the next record of the stream, or io.EOF.
func (s *stream) next() (*Record, error) {
	for {
		if s.cur != nil && s.pos < len(s.cur.recs) {
			r := s.cur.recs[s.pos]
			s.cur.recs[s.pos] = nil
			s.pos++
			return r, nil
		}
		if s.cur != nil && s.cur.err != nil {
			return nil, fmt.Errorf("cannot read %s: %w", s.src.Name(), s.cur.err)
		}
		c, ok := <-s.chunks
		if !ok {
			return nil, io.EOF
		}
		<-c.done
		for _, le := range c.bad {
			if s.onBad != nil {
				s.onBad(le)
			}
		}
		s.cur, s.pos = c, 0
	}
}

func (s *stream) close() error {
	s.cancel()
	// Drain so the reader goroutine can leave.
	for c := range s.chunks {
		_ = c
	}
	<-s.done
	return nil
}

// fileSource reads JSON lines from a file, gzip or zstd compressed or not
// (told by the magic bytes, so the extension does not matter), or from
// standard input.
type fileSource struct {
	name string
	f    io.Closer
	size int64
	read atomic.Int64
	br   *bufio.Reader
	dec  io.Closer
	line int64
}

// countingReader counts the bytes read from the file, for progress.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// openFile opens one input file ("-" is standard input, given as stdin).
func openFile(name string, stdin io.Reader) (*fileSource, error) {
	fs := &fileSource{name: name}
	var r io.Reader
	if name == "-" {
		r = stdin
		fs.f = io.NopCloser(nil)
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("cannot open input: %w", err)
		}
		if st, err := f.Stat(); err == nil {
			fs.size = st.Size()
		}
		fs.f = f
		r = f
	}
	br := bufio.NewReaderSize(countingReader{r: r, n: &fs.read}, 256<<10)
	magic, _ := br.Peek(4)
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			fs.f.Close()
			return nil, fmt.Errorf("cannot read gzip input %s: %w", name, err)
		}
		fs.dec = zr
		fs.br = bufio.NewReaderSize(zr, 256<<10)
	case len(magic) == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			fs.f.Close()
			return nil, fmt.Errorf("cannot read zstd input %s: %w", name, err)
		}
		fs.dec = zr.IOReadCloser()
		fs.br = bufio.NewReaderSize(zr, 256<<10)
	default:
		fs.br = br
	}
	// A UTF-8 byte order mark (Windows editors write one) is not part of
	// the first line: left there, it made the first post a bad line.
	if b, _ := fs.br.Peek(len(utf8BOM)); bytes.Equal(b, utf8BOM) {
		_, _ = fs.br.Discard(len(utf8BOM))
	}
	return fs, nil
}

var utf8BOM = []byte{0xef, 0xbb, 0xbf}

func (s *fileSource) Name() string                  { return s.name }
func (s *fileSource) Progress() (done, total int64) { return s.read.Load(), s.size }

func (s *fileSource) Close() error {
	if s.dec != nil {
		s.dec.Close()
	}
	return s.f.Close()
}

// Fill reads up to n lines. A line longer than msg.MaxLine is reported as
// a bad line (empty content, which decodes to an error naming it) and
// skipped to its end, so one runaway line costs one record, not the file.
func (s *fileSource) Fill(ctx context.Context, c *chunk, n int) error {
	for len(c.lines) < n {
		line, err := s.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A long line: gather it, up to the cap.
			long := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = s.br.ReadSlice('\n')
				if len(long) <= msg.MaxLine {
					long = append(long, line...)
				}
			}
			s.line++
			if len(long) > msg.MaxLine {
				c.lines = append(c.lines, rawLine{seq: s.line, err: fmt.Errorf("line longer than %d bytes", msg.MaxLine)})
			} else {
				c.add(long, s.line)
			}
		} else if len(line) > 0 {
			s.line++
			c.add(line, s.line)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.EOF
			}
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

// ExpandInputs turns command-line arguments into the list of files to
// read: a directory stands for the JSON-lines files in it and its
// subdirectories (*.jsonl, *.json, *.ndjson, each optionally .gz or .zst),
// in lexical order; a file is taken as named; "-" is standard input.
func ExpandInputs(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		if a == "-" {
			out = append(out, a)
			continue
		}
		st, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("cannot open input: %w", err)
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		var found []string
		err = filepath.WalkDir(a, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && isJSONLines(d.Name()) {
				found = append(found, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("cannot list %s: %w", a, err)
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("directory %s holds no .jsonl, .json or .ndjson files (optionally .gz or .zst)", a)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

func isJSONLines(name string) bool {
	name = strings.TrimSuffix(strings.TrimSuffix(name, ".gz"), ".zst")
	for _, ext := range []string{".jsonl", ".json", ".ndjson"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}
