package api

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// chartFaults lists, as text, what of the first level chart on the page
// lies outside where it belongs: the chart outside its panel, an axis
// label outside the chart or on top of its neighbour, axis text scaled
// below a readable size, a drawn line outside the plot (the box the grid
// lines span). Empty: the chart fits.
const chartFaults = `(() => {
  const out = [];
  const s = document.querySelector("main svg.chart");
  if (!s) return "no chart";
  const sb = s.getBoundingClientRect(), pb = s.closest(".panel").getBoundingClientRect();
  if (sb.left < pb.left - 0.5 || sb.right > pb.right + 0.5) out.push("chart " + sb.left + ".." + sb.right + " outside its panel " + pb.left + ".." + pb.right);
  const labels = [...s.querySelectorAll("text.axis")].map((e) => ({ t: e.textContent, b: e.getBoundingClientRect() }));
  for (const l of labels) {
    if (l.b.left < sb.left - 0.5 || l.b.right > sb.right + 0.5 || l.b.top < sb.top - 0.5 || l.b.bottom > sb.bottom + 0.5) out.push("label " + l.t + " outside the chart");
    if (l.b.height < 10) out.push("label " + l.t + " drawn " + l.b.height.toFixed(1) + " px high");
  }
  for (let i = 0; i < labels.length; i++) for (let j = i + 1; j < labels.length; j++) {
    const a = labels[i].b, b = labels[j].b;
    if (a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5) out.push("labels " + labels[i].t + " and " + labels[j].t + " overlap");
  }
  const grid = [...s.querySelectorAll("line.grid")].map((e) => e.getBoundingClientRect());
  const left = Math.min(...grid.map((g) => g.left)), right = Math.max(...grid.map((g) => g.right));
  for (const p of s.querySelectorAll("path.lvl, path.base, path.max")) {
    const b = p.getBoundingClientRect();
    if (b.width > 0 && (b.left < left - 1 || b.right > right + 1)) out.push(p.getAttribute("class") + " line " + b.left.toFixed(0) + ".." + b.right.toFixed(0) + " outside the plot " + left.toFixed(0) + ".." + right.toFixed(0));
  }
  return out.join("; ");
})()`

// seedLongSeries gives forum-a a level every 20 minutes for four weeks,
// with levels in the thousands (wide axis labels).
func (h *harness) seedLongSeries() {
	h.t.Helper()
	for i := range 2000 {
		h.level(msg.Level{Site: "forum-a", Time: h.now.Add(-time.Duration(2000-i) * 20 * time.Minute), Level: float64(i%37) * 331.7, Baseline: 2, Name: "normal"})
	}
}

// TestTheLevelChartFitsItsBox draws a site's long series on screens from a
// small phone to a wall: the chart, its axis labels and its lines stay in
// their boxes, the labels do not overlap and are not shrunk.
func TestTheLevelChartFitsItsBox(t *testing.T) {
	h := newHarness(t, nil)
	h.seed()
	h.seedLongSeries()
	for _, width := range []int64{320, 390, 800, 1400} {
		t.Run(fmt.Sprintf("%d px wide", width), func(t *testing.T) {
			ctx := browser(t, 1400, 1000)
			if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 900)); err != nil {
				t.Fatal(err)
			}
			h.signIn(t, ctx, config.RoleViewer, "/#/site/forum-a?range=6h")
			for _, rng := range []string{"6h", "720h"} {
				// A range's button draws its chart; the old one goes.
				err := chromedp.Do(ctx,
					chromedp.Evaluate[chromedp.Void](`location.hash = "#/site/forum-a?range=`+rng+`"`),
					poll(`(() => { const b = document.querySelector('main button[aria-pressed="true"]');
						return b !== null && b.textContent.replace(" ", "") === "`+map[string]string{"6h": "6h", "720h": "30d"}[rng]+`" && document.querySelector("main svg.chart path.lvl") !== null; })()`),
				)
				if err != nil {
					t.Fatalf("the chart over %s never drew: %v", rng, err)
				}
				faults, err := chromedp.Run(ctx, chromedp.Evaluate[string](chartFaults))
				if err != nil {
					t.Fatal(err)
				}
				if faults != "" {
					t.Errorf("over %s: %s", rng, faults)
				}
				screenshot(t, ctx, fmt.Sprintf("chart-%d-%s.png", width, rng))
			}
		})
	}
}

// TestTheLevelChartFollowsTheScreenAndLiveLevels keeps a site page open
// while the window narrows and while levels arrive for later than the
// page's load: the chart is redrawn for the new width, and its window
// moves on with time instead of drawing new levels off its right edge.
func TestTheLevelChartFollowsTheScreenAndLiveLevels(t *testing.T) {
	ctx := browser(t, 1400, 1000)
	h := newHarness(t, nil)
	h.seed()
	h.seedLongSeries()
	h.signIn(t, ctx, config.RoleViewer, "/#/site/forum-a?range=6h")
	if err := chromedp.Do(ctx, poll(`document.querySelector("main svg.chart path.lvl") !== null`)); err != nil {
		t.Fatalf("the chart never drew: %v", err)
	}
	for i := 1; i <= 3; i++ {
		h.level(msg.Level{Site: "forum-a", Time: time.Now().Add(time.Duration(i) * 20 * time.Minute), Level: 40, Baseline: 2, Name: "severe"})
	}
	err := chromedp.Do(ctx,
		poll(`document.querySelector("main .row span:nth-child(2)").textContent.startsWith("level 40.0")`),
		chromedp.EmulateViewport(360, 900),
		// The chart is drawn again for the new width (its drawing is as
		// wide as its box), not only scaled down.
		poll(`(() => { const s = document.querySelector("main svg.chart"); if (!s) return false;
			const w = s.getBoundingClientRect().width; return w < 360 && Math.abs(s.viewBox.baseVal.width - w) < 1; })()`),
	)
	if err != nil {
		t.Fatalf("the chart never followed: %v", err)
	}
	faults, err := chromedp.Run(ctx, chromedp.Evaluate[string](chartFaults))
	if err != nil {
		t.Fatal(err)
	}
	if faults != "" {
		t.Error(faults)
	}
}
