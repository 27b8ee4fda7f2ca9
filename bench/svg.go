package main

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// plotSeries is one target's line in the load plot.
type plotSeries struct {
	Name   string
	Points []plotPoint // in increasing offered rate
}

type plotPoint struct {
	Offered, Replies, P99ms float64
}

// seriesColours are told apart in colour and in print (dash patterns).
var seriesColours = []struct{ stroke, dash string }{
	{"#1f77b4", ""}, {"#d62728", "6,3"}, {"#2ca02c", "2,2"}, {"#9467bd", "8,3,2,3"}, {"#ff7f0e", "4,4"},
}

const (
	panelW, panelH = 420.0, 300.0
	marginL        = 70.0
	marginT        = 40.0
	marginB        = 50.0
	gap            = 80.0
)

// writeLoadPlot draws two panels from the sweep: replies/s against
// offered load (with the "replies = offered" diagonal), and message →
// reply p99 against offered load (log scale), one line per target and a
// legend. The x axes are logarithmic, as the steps double.
func writeLoadPlot(w io.Writer, title string, series []plotSeries) error {
	var xs, ys, ps []float64
	for _, s := range series {
		for _, p := range s.Points {
			xs = append(xs, p.Offered)
			ys = append(ys, p.Replies, p.Offered)
			if p.P99ms > 0 {
				ps = append(ps, p.P99ms)
			}
		}
	}
	if len(xs) == 0 {
		return fmt.Errorf("plot: no points")
	}
	xMin, xMax := minMax(xs)
	if xMin <= 0 {
		return fmt.Errorf("plot: offered rates must be positive")
	}
	if xMin == xMax {
		xMin, xMax = xMin/2, xMax*2
	}
	_, yMax := minMax(ys)
	yMax = axisCeil(yMax * 1.05)
	pMin, pMax := 1.0, 10.0
	if len(ps) > 0 {
		pMin, pMax = minMax(ps)
	}
	pLo, pHi := math.Pow(10, math.Floor(math.Log10(pMin))), math.Pow(10, math.Ceil(math.Log10(pMax)))
	if pLo == pHi {
		pHi *= 10
	}
	lx := func(v float64) float64 { return (math.Log(v) - math.Log(xMin)) / (math.Log(xMax) - math.Log(xMin)) }

	width := marginL*2 + panelW*2 + gap
	height := marginT + panelH + marginB + 20*float64(len(series)+1) + 20
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">
<rect width="100%%" height="100%%" fill="white"/>
<text x="%.0f" y="20" text-anchor="middle" font-size="14">%s</text>
`, width, height, width, height, width/2, html.EscapeString(title))

	panels := []struct {
		x0    float64
		ylab  string
		y     func(plotPoint) float64
		scale func(float64) float64 // value → 0..1
		ticks []float64
		diag  bool
	}{
		{marginL, "replies/s achieved", func(p plotPoint) float64 { return p.Replies },
			func(v float64) float64 { return v / yMax }, linearTicks(yMax), true},
		{marginL*2 + panelW + gap - marginL, "message → reply p99 (ms, log)", func(p plotPoint) float64 { return p.P99ms },
			func(v float64) float64 {
				return (math.Log10(v) - math.Log10(pLo)) / (math.Log10(pHi) - math.Log10(pLo))
			}, decadeTicks(pLo, pHi), false},
	}
	for pi, pn := range panels {
		px := func(v float64) float64 { return pn.x0 + lx(v)*panelW }
		py := func(v float64) float64 { return marginT + panelH - pn.scale(v)*panelH }
		fmt.Fprintf(&b, `<g class="panel" data-panel="%d">
<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#444"/>
`, pi, pn.x0, marginT, panelW, panelH)
		for _, t := range offeredTicks(xs) {
			x := px(t)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.1f" y="%.1f" text-anchor="middle">%s</text>
`, x, marginT, x, marginT+panelH, x, marginT+panelH+16, tickLabel(t))
		}
		for _, t := range pn.ticks {
			y := py(t)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.1f" y="%.1f" text-anchor="end">%s</text>
`, pn.x0, y, pn.x0+panelW, y, pn.x0-6, y+4, tickLabel(t))
		}
		fmt.Fprintf(&b, `<text class="xlabel" x="%.1f" y="%.1f" text-anchor="middle">offered load (messages/s, log)</text>
<text class="ylabel" transform="translate(%.1f,%.1f) rotate(-90)" text-anchor="middle">%s</text>
`, pn.x0+panelW/2, marginT+panelH+36, pn.x0-52, marginT+panelH/2, html.EscapeString(pn.ylab))
		if pn.diag {
			// replies = offered, a curve on the log x axis.
			var pts []string
			for i := 0; i <= 64; i++ {
				v := xMin * math.Pow(xMax/xMin, float64(i)/64)
				if v > yMax {
					break
				}
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(v), py(v)))
			}
			fmt.Fprintf(&b, `<polyline class="ideal" points="%s" fill="none" stroke="#666" stroke-dasharray="3,3"/>
`, strings.Join(pts, " "))
		}
		for si, s := range series {
			c := seriesColours[si%len(seriesColours)]
			var pts []string
			for _, p := range s.Points {
				v := pn.y(p)
				if v <= 0 && !pn.diag {
					continue // no reply at all: no p99 to draw
				}
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p.Offered), py(v)))
			}
			dash := ""
			if c.dash != "" {
				dash = fmt.Sprintf(` stroke-dasharray="%s"`, c.dash)
			}
			fmt.Fprintf(&b, `<polyline class="series" data-series="%s" points="%s" fill="none" stroke="%s" stroke-width="2"%s/>
`, html.EscapeString(s.Name), strings.Join(pts, " "), c.stroke, dash)
			for _, pt := range pts {
				xy := strings.SplitN(pt, ",", 2)
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`, xy[0], xy[1], c.stroke)
			}
			b.WriteString("\n")
		}
		b.WriteString("</g>\n")
	}
	ly := marginT + panelH + marginB + 10
	b.WriteString(`<g class="legend">` + "\n")
	for si, s := range series {
		c := seriesColours[si%len(seriesColours)]
		y := ly + float64(si)*20
		dash := ""
		if c.dash != "" {
			dash = fmt.Sprintf(` stroke-dasharray="%s"`, c.dash)
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/><text x="%.1f" y="%.1f">%s</text>
`, marginL, y, marginL+30, y, c.stroke, dash, marginL+38, y+4, html.EscapeString(s.Name))
	}
	y := ly + float64(len(series))*20
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#666" stroke-dasharray="3,3"/><text x="%.1f" y="%.1f">replies = offered</text>
`, marginL, y, marginL+30, y, marginL+38, y+4)
	b.WriteString("</g>\n</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func minMax(v []float64) (float64, float64) {
	lo, hi := v[0], v[0]
	for _, x := range v[1:] {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	return lo, hi
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// axisCeil rounds v up to a round number a little above it.
func axisCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func linearTicks(max float64) []float64 {
	step := niceCeil(max / 5)
	var t []float64
	for v := 0.0; v <= max*1.0001; v += step {
		t = append(t, v)
	}
	return t
}

func decadeTicks(lo, hi float64) []float64 {
	var t []float64
	for v := lo; v <= hi*1.0001; v *= 10 {
		t = append(t, v)
	}
	return t
}

// offeredTicks are the distinct offered rates (the sweep's steps).
func offeredTicks(xs []float64) []float64 {
	seen := map[float64]bool{}
	var t []float64
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			t = append(t, x)
		}
	}
	return t
}

func tickLabel(v float64) string {
	if v == math.Trunc(v) && v < 1000 {
		return fmt.Sprintf("%.0f", v)
	}
	return num(v)
}
