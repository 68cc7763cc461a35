package config

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzParse: no config file, however broken, panics the loader; a file it
// accepts has its defaults filled for good (filling them again changes
// nothing, so a stage that calls SetDefaults on a loaded config gets the
// same config) and still validates. Seeds are the example and the test
// cases under testdata/.
func FuzzParse(f *testing.F) {
	f.Add([]byte(Example))
	paths, _ := filepath.Glob(filepath.Join("testdata", "*.yml"))
	more, _ := filepath.Glob(filepath.Join("testdata", "*", "*.yml"))
	for _, p := range append(paths, more...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err != nil {
			return
		}
		// A second parse, so that filling defaults again cannot reach
		// into the first one through shared slices and maps.
		again, err := Parse(b)
		if err != nil {
			t.Fatalf("the same file parsed once and failed once: %v", err)
		}
		again.SetDefaults()
		if !reflect.DeepEqual(again, c) {
			t.Fatalf("defaults change when filled twice:\n%+v\n%+v", c, again)
		}
		if err := again.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that does not validate: %v", err)
		}
	})
}
