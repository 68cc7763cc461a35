package bus

import (
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/segmentio/kafka-go"
)

// Only what an operator must change stops a stage's fetching; outages,
// rebalances and coordinator moves are waited out.
func TestNeedsOperator(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("join group: %w", kafka.GroupAuthorizationFailed), true},
		{kafka.TopicAuthorizationFailed, true},
		{fmt.Errorf("sasl: %w", kafka.SASLAuthenticationFailed), true},
		{kafka.RebalanceInProgress, false},
		{kafka.GroupCoordinatorNotAvailable, false},
		{kafka.NotCoordinatorForGroup, false},
		{kafka.UnknownMemberId, false},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, false},
		{errors.New("unexpected EOF"), false},
	} {
		if got := NeedsOperator(tc.err); got != tc.want {
			t.Errorf("NeedsOperator(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
