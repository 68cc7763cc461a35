package nab

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

func TestPostsFollowTheVolumeInEventTimeOrder(t *testing.T) {
	series, err := Load("testdata", "realTweets")
	if err != nil {
		t.Fatal(err)
	}
	var got []*msg.Scored
	n, err := Posts(context.Background(), series, func(s *msg.Scored) error { got = append(got, s); return nil })
	if err != nil || n != 5 {
		t.Fatalf("%d posts, err %v; want 5 (2+0+1 and 1+1)", n, err)
	}
	want := []string{"Twitter_volume_B:0:0", "Twitter_volume_A:0:0", "Twitter_volume_A:0:1", "Twitter_volume_B:1:0", "Twitter_volume_A:2:0"}
	for i, s := range got {
		if s.Post.ID != want[i] {
			t.Errorf("post %d is %s, want %s", i, s.Post.ID, want[i])
		}
		if err := s.Validate(); err != nil || s.Scores[msg.SignalThreat] != 1 || s.Post.Site != "nab-realTweets-"+s.Post.ID[:len("Twitter_volume_A")] {
			t.Errorf("post %s: %+v (%v)", s.Post.ID, s, err)
		}
	}
}

func TestDetectionsCountOnlyOnsets(t *testing.T) {
	series, err := Load("testdata", "realTweets")
	if err != nil {
		t.Fatal(err)
	}
	on := time.Date(2015, 2, 26, 21, 45, 0, 0, time.UTC)
	alerts := []*msg.Alert{
		{Labels: map[string]string{"site": "nab-realTweets-Twitter_volume_A"}, Fingerprint: "f1", Status: msg.StatusFiring, EventTime: on},
		{Labels: map[string]string{"site": "nab-realTweets-Twitter_volume_A"}, Fingerprint: "f1", Status: msg.StatusFiring, EventTime: on.Add(time.Hour)},
		{Labels: map[string]string{"site": "nab-realTweets-Twitter_volume_A"}, Fingerprint: "f1", Status: msg.StatusResolved, EventTime: on.Add(2 * time.Hour)},
		{Labels: map[string]string{"site": "elsewhere"}, Fingerprint: "f2", Status: msg.StatusFiring, EventTime: on},
	}
	dir := t.TempDir()
	if err := WriteDetections(dir, series, Onsets(alerts)); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(dir, "realTweets", "Twitter_volume_A.csv"))
	if string(a) != "timestamp,label\n2015-02-26 21:45:00,1\n" {
		t.Errorf("A detections:\n%s", a)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "realTweets", "Twitter_volume_B.csv"))
	if string(b) != "timestamp,label\n" {
		t.Errorf("B detections:\n%s", b)
	}
}

func TestLoadRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "data", "realTweets"), 0o755)
	os.WriteFile(filepath.Join(dir, "data", "realTweets", "x.csv"), []byte("timestamp,value\nyesterday,3\n"), 0o644)
	if _, err := Load(dir); err == nil {
		t.Error("a bad timestamp was accepted")
	}
	if _, err := Load(t.TempDir()); err == nil {
		t.Error("a directory without data was accepted")
	}
}
