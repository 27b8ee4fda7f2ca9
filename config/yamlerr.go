package config

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// This file turns yaml.v3's errors into messages an admin can act on: the
// line that is really wrong, and the dotted name of the option concerned.

var (
	yamlLineErr  = regexp.MustCompile(`line (\d+): field (\S+) not found in type config\.(\w+)`)
	yamlTypeErr  = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+)(?: `(.*)`)? into (\\S+)$")
	yamlLineNote = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// friendlyYAMLError explains a decoding error of data.
func friendlyYAMLError(err error, data []byte) string {
	msg := err.Error()
	if _, ok := err.(*yaml.TypeError); !ok && strings.HasPrefix(msg, "yaml: ") {
		return syntaxError(msg, data)
	}
	msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n")
	var root yaml.Node
	_ = yaml.Unmarshal(data, &root) // it decoded far enough to type-check
	var lines []string
	for _, l := range strings.Split(msg, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		lines = append(lines, explainTypeError(l, &root))
	}
	return strings.Join(lines, "; ")
}

func explainTypeError(l string, root *yaml.Node) string {
	if m := yamlLineErr.FindStringSubmatch(l); m != nil {
		return fmt.Sprintf("line %s: unknown key %q in %s", m[1], m[2], sectionName(m[3]))
	}
	if m := yamlTypeErr.FindStringSubmatch(l); m != nil {
		line, _ := strconv.Atoi(m[1])
		option := optionAt(root, line)
		if option == "" {
			option = "this option"
		}
		got := "a list"
		switch m[2] {
		case "map":
			got = "a section (key: value lines)"
		case "seq":
		default:
			got = strconv.Quote(m[3])
		}
		return fmt.Sprintf("line %d: %s must be %s, not %s", line, option, goTypeWords(m[4]), got)
	}
	if m := yamlLineNote.FindStringSubmatch(l); m != nil {
		line, _ := strconv.Atoi(m[1])
		if option := optionAt(root, line); option != "" {
			return fmt.Sprintf("line %d: %s: %s", line, option, m[2])
		}
	}
	return l
}

// goTypeWords names what a Go type accepts, in the words of the config
// template.
func goTypeWords(goType string) string {
	switch goType {
	case "int", "int64", "int32", "uint", "uint64":
		return "a whole number"
	case "bool":
		return "true or false"
	case "string":
		return "a string"
	case "config.Duration":
		return "a duration such as 30s or 5m"
	case "float64":
		return "a number"
	}
	if strings.HasPrefix(goType, "[]") {
		return "a list"
	}
	return "a section (key: value lines)"
}

// optionAt returns the dotted path ("dispatcher.workers", "bots[0].welcome")
// of the option whose key or value starts at line, or "".
func optionAt(n *yaml.Node, line int) string {
	var walk func(n *yaml.Node, path string) string
	walk = func(n *yaml.Node, path string) string {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				if p := walk(c, path); p != "" {
					return p
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				if k.Line == line || (v.Line == line && v.Kind == yaml.ScalarNode) {
					if v.Kind != yaml.MappingNode || v.Line == line {
						return p
					}
				}
				if q := walk(v, p); q != "" {
					return q
				}
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				if c.Kind == yaml.ScalarNode && c.Line == line {
					return p
				}
				if q := walk(c, p); q != "" {
					return q
				}
			}
		}
		return ""
	}
	return walk(n, "")
}

// syntaxError locates a YAML syntax error. yaml.v3 reports the line where
// the enclosing block starts, often several lines above the mistake; the
// mistake is on the first line after which no prefix of the file parses
// any more.
func syntaxError(msg string, data []byte) string {
	msg = strings.TrimPrefix(msg, "yaml: ")
	if m := yamlLineNote.FindStringSubmatch(msg); m != nil {
		msg = m[2]
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	lastOK := 0
	var prefix []byte
	var n yaml.Node
	for i, l := range lines {
		prefix = append(prefix, l...)
		if yaml.Unmarshal(prefix, &n) == nil {
			lastOK = i + 1
		}
	}
	if lastOK >= len(lines) {
		return msg // should not happen: the whole file parsed
	}
	bad := lastOK + 1
	return fmt.Sprintf("line %d: %s%s", bad, msg, syntaxHint(string(lines[lastOK]), lines[:lastOK]))
}

// syntaxHint guesses the usual mistake on a line that broke the YAML.
func syntaxHint(line string, before [][]byte) string {
	trimmed := strings.TrimLeft(line, " ")
	switch {
	case strings.HasPrefix(trimmed, "\t"):
		return " (this line is indented with a tab; YAML needs spaces)"
	case strings.Count(line, `"`)%2 == 1:
		return ` (a " quote on this line is not closed)`
	case strings.Count(line, `'`)%2 == 1 && !strings.Contains(line, `"`):
		return " (a ' quote on this line is not closed)"
	case strings.Count(line, "[") > strings.Count(line, "]"):
		return " (a [ on this line is not closed)"
	case strings.Count(line, "{") > strings.Count(line, "}"):
		return " (a { on this line is not closed)"
	}
	indent := len(line) - len(trimmed)
	for i := len(before) - 1; i >= 0; i-- {
		prev := string(before[i])
		pt := strings.TrimLeft(prev, " ")
		if strings.TrimSpace(pt) == "" || strings.HasPrefix(pt, "#") {
			continue
		}
		if pi := len(prev) - len(pt); pi != indent {
			return fmt.Sprintf(" (check the indentation: this line is indented %d spaces, the option above it %d; options of one section line up)", indent, pi)
		}
		break
	}
	return ""
}
