package config

import (
	"bytes"
	_ "embed"
	"strconv"
	"text/template"
)

//go:embed template.yaml.tmpl
var templateText string

var configTemplate = template.Must(template.New("config").Funcs(template.FuncMap{
	"quote": strconv.Quote,
}).Parse(templateText))

// InitOptions are the values `bizbots init` puts into a new config file.
type InitOptions struct {
	HomeserverURL   string
	Domain          string
	ID              string
	Listen          string
	URL             string
	SenderLocalpart string
	ASToken         string
	HSToken         string
	Registration    string
	DatabaseURI     string
}

// Render writes a commented config file from opts, with defaults filled in
// for anything left empty, and checks that the result loads.
func Render(opts InitOptions) ([]byte, error) {
	if opts.ID == "" {
		opts.ID = "bizbots"
	}
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:29330"
	}
	if opts.URL == "" {
		opts.URL = "http://" + opts.Listen
	}
	if opts.SenderLocalpart == "" {
		opts.SenderLocalpart = "bizbots"
	}
	if opts.Registration == "" {
		opts.Registration = "registration.yaml"
	}
	if opts.DatabaseURI == "" {
		opts.DatabaseURI = "sqlite:bizbots.db"
	}
	var buf bytes.Buffer
	if err := configTemplate.Execute(&buf, opts); err != nil {
		return nil, err
	}
	if _, err := Parse(buf.Bytes(), "new config"); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
