package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

func TestLoadPlotIsValidSVGWithOneLinePerTargetInEachPanel(t *testing.T) {
	series := []plotSeries{
		{Name: "mautrix", Points: []plotPoint{{100, 99, 4}, {200, 198, 6}, {400, 250, 900}}},
		{Name: "sqlite <fast>", Points: []plotPoint{{100, 100, 2}, {200, 199, 3}, {400, 398, 5}}},
	}
	var buf bytes.Buffer
	if err := writeLoadPlot(&buf, "offered load & replies", series); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(buf.Bytes()))
	var root string
	lines := map[string]int{}    // series name → polylines (one per panel)
	points := map[string][]int{} // series name → points per polyline
	var texts []string
	ideal := 0
	inText := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, buf.String())
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = e.Name.Local
				if e.Name.Space != "http://www.w3.org/2000/svg" {
					t.Fatalf("root namespace %q", e.Name.Space)
				}
			}
			inText = e.Name.Local == "text"
			if e.Name.Local == "polyline" {
				var class, name, pts string
				for _, a := range e.Attr {
					switch a.Name.Local {
					case "class":
						class = a.Value
					case "data-series":
						name = a.Value
					case "points":
						pts = a.Value
					}
				}
				if class == "ideal" {
					ideal++
					continue
				}
				lines[name]++
				points[name] = append(points[name], len(strings.Fields(pts)))
			}
		case xml.CharData:
			if inText {
				texts = append(texts, string(e))
			}
		case xml.EndElement:
			inText = false
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q, want svg", root)
	}
	for _, s := range series {
		if lines[s.Name] != 2 {
			t.Errorf("series %q: %d lines, want one per panel (2)", s.Name, lines[s.Name])
		}
		for _, n := range points[s.Name] {
			if n != len(s.Points) {
				t.Errorf("series %q: a line with %d points, want %d", s.Name, n, len(s.Points))
			}
		}
	}
	if len(lines) != len(series) {
		t.Errorf("lines for %v, want only the series", lines)
	}
	if ideal != 1 {
		t.Errorf("%d \"replies = offered\" lines, want 1 (in the replies panel)", ideal)
	}
	all := strings.Join(texts, "|")
	for _, want := range []string{"offered load (messages/s, log)", "replies/s achieved", "message → reply p99 (ms, log)", "mautrix", "sqlite <fast>", "offered load & replies", "replies = offered"} {
		if !strings.Contains(all, want) {
			t.Errorf("no text %q in the plot (texts: %s)", want, all)
		}
	}
}

func TestLoadPlotRefusesNoPoints(t *testing.T) {
	if err := writeLoadPlot(io.Discard, "x", nil); err == nil {
		t.Fatal("an empty plot was written without error")
	}
}
