package replay

import (
	"errors"
	"io"
)

// Source is the input of a replay: files, or the partitions of a topic.
// Run reads and closes it.
type Source struct {
	inputs  []lineSource
	keepRaw bool
	// Unit names what Progress counts ("bytes", "messages").
	unit string
}

// Files opens JSON-lines files for a replay ("-" reads stdin). Each file is
// read in its own order and the files are merged on event time; gzip and
// zstd files are recognised by their first bytes. Use ExpandInputs first to
// turn directories into files.
func Files(paths []string, stdin io.Reader) (*Source, error) {
	if len(paths) == 0 {
		return nil, errors.New("no input files")
	}
	s := &Source{unit: "bytes"}
	for _, p := range paths {
		f, err := openFile(p, stdin)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.inputs = append(s.inputs, f)
	}
	return s, nil
}

// KeepRaw makes every record carry its input line unchanged (for export).
func (s *Source) KeepRaw() { s.keepRaw = true }

// Close closes every input not yet closed. Run closes the source itself.
func (s *Source) Close() {
	for _, in := range s.inputs {
		_ = in.Close()
	}
	s.inputs = nil
}

func (s *Source) nameOf(i int) string {
	if i >= 0 && i < len(s.inputs) {
		return s.inputs[i].Name()
	}
	return "?"
}

func (s *Source) progress() (done, total int64) {
	for _, in := range s.inputs {
		d, t := in.Progress()
		done += d
		total += t
	}
	return done, total
}
