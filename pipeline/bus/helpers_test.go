package bus

import (
	"net"
	"strconv"
	"testing"

	"github.com/segmentio/kafka-go"
)

func itoa(i int) string { return strconv.Itoa(i) }

func kafkaMsg(k, v string) kafka.Message { return kafka.Message{Key: []byte(k), Value: []byte(v)} }

// freePort is shared by this package's tests.
func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
