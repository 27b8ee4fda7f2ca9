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
	// The template shows the same defaults a loaded config gets.
	d := Config{
		AppService: AppService{ID: opts.ID, Listen: opts.Listen, URL: opts.URL,
			SenderLocalpart: opts.SenderLocalpart, Registration: opts.Registration},
		Database: Database{URI: opts.DatabaseURI},
	}
	d.ApplyDefaults()
	opts.ID, opts.Listen, opts.URL = d.AppService.ID, d.AppService.Listen, d.AppService.URL
	opts.SenderLocalpart, opts.Registration = d.AppService.SenderLocalpart, d.AppService.Registration
	opts.DatabaseURI = d.Database.URI
	var buf bytes.Buffer
	if err := configTemplate.Execute(&buf, opts); err != nil {
		return nil, err
	}
	if _, err := Parse(buf.Bytes(), "new config"); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
