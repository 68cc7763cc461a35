package replay

import (
	"encoding/json"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// unmarshalScored decodes one scored post.
func unmarshalScored(b []byte, s *msg.Scored) error {
	return json.Unmarshal(b, s)
}
