package watchlist

import "fmt"

// Kind is the kind of one watchlist detail.
type Kind uint8

// The detail kinds. Names, aliases, former names and handles identify a
// person; the rest are private details whose appearance in a post is a dox.
const (
	KindName Kind = iota + 1
	KindAlias
	KindFormerName
	KindHandle
	KindAddress
	KindPhone
	KindEmail
	KindPlate
	KindRelative
	KindWorkplace
	kindEnd
)

var kindNames = [kindEnd]string{"", "name", "alias", "former_name", "handle", "address", "phone", "email", "plate", "relative", "workplace"}

// Kinds lists every kind in a stable order.
var Kinds = []Kind{KindName, KindAlias, KindFormerName, KindHandle, KindAddress, KindPhone, KindEmail, KindPlate, KindRelative, KindWorkplace}

// String returns the kind's name as used in files, Redis and listings.
func (k Kind) String() string {
	if k > 0 && k < kindEnd {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseKind is the inverse of String.
func ParseKind(s string) (Kind, bool) {
	for k := KindName; k < kindEnd; k++ {
		if kindNames[k] == s {
			return k, true
		}
	}
	return 0, false
}

// Private reports whether a match of this kind is a dox (raises doxxing to
// 1 and pages at once) rather than only naming the person as a target.
func (k Kind) Private() bool {
	switch k {
	case KindAddress, KindPhone, KindEmail, KindPlate, KindRelative, KindWorkplace:
		return true
	}
	return false
}

// EvidenceKind is the msg.Span kind a match of k produces. Aliases and
// former names are names to everyone downstream.
func (k Kind) EvidenceKind() string {
	switch k {
	case KindAlias, KindFormerName:
		return EvidencePrefix + "name"
	}
	return EvidencePrefix + k.String()
}

// EvidencePrefix starts the kind of every span the matcher adds.
const EvidencePrefix = "watchlist:"

// PrivateEvidence reports whether a span kind is a watchlist private-detail
// match, for the aggregator's page-at-once rule.
func PrivateEvidence(spanKind string) bool {
	if len(spanKind) <= len(EvidencePrefix) || spanKind[:len(EvidencePrefix)] != EvidencePrefix {
		return false
	}
	k, ok := ParseKind(spanKind[len(EvidencePrefix):])
	return ok && k.Private()
}

// Placeholder is the typed placeholder that replaces a match in snippets.
func (k Kind) Placeholder() string {
	switch k {
	case KindName, KindAlias, KindFormerName, KindRelative:
		return "[NAME]"
	case KindHandle:
		return "[HANDLE]"
	case KindAddress:
		return "[ADDRESS]"
	case KindPhone:
		return "[PHONE]"
	case KindEmail:
		return "[EMAIL]"
	case KindPlate:
		return "[PLATE]"
	case KindWorkplace:
		return "[WORKPLACE]"
	}
	return "[REDACTED]"
}

// domain separates the hash spaces of details compared differently: a
// phone's E.164 form must never equal some word sequence's hash input.
func (k Kind) domain() byte {
	switch k {
	case KindPhone:
		return domPhone
	case KindEmail:
		return domEmail
	case KindPlate:
		return domPlate
	}
	return domWords
}

// tagged reports whether entries of k carry a prefilter tag: kinds
// checked on every word of a post.
func (k Kind) tagged() bool { return k.domain() == domWords || k == KindPlate }

// canonical reports whether k is compared on the canonical token stream
// (street abbreviations folded) rather than the plain folded one. Only
// addresses are: folding "West" to "w" in a relative's name would let
// "Anna W." page as a dox.
func (k Kind) canonical() bool { return k == KindAddress }

const (
	domWords byte = 'w'
	domPhone byte = 'p'
	domEmail byte = 'e'
	domPlate byte = 'l'
)
