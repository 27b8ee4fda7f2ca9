package console

import (
	"net/http"
	"strings"

	"github.com/bizbots/bizbots/handlers/backoffice"
	"github.com/bizbots/bizbots/store"
)

// The catalog and settings page: what a bot's service lets its owners
// change while it runs (backoffice.Settings): prices, names, sold out,
// opening hours, welcome texts. A change is stored (the config's value
// stays the default), applied to the running bot at once, and audited:
// who, when, the old and the new value.

type settingsGroup struct {
	Name   string
	Fields []settingField
}

type settingField struct {
	backoffice.Setting
	// ID is the form field's name and id.
	ID    string
	Error string
}

type settingsView struct {
	page
	Groups   []settingsGroup
	Audit    []store.AuditEntry
	Notice   string
	Errors   int
	NoConfig bool
}

// auditSettings prefixes the audit entries of settings.
const auditSettings = "setting: "

func fieldID(key string) string { return "s-" + strings.NewReplacer(".", "-", "_", "-").Replace(key) }

func (s *Server) settings(w http.ResponseWriter, r *http.Request) {
	b, sess, ok := s.staffFor(w, r, pageSettings)
	if !ok {
		return
	}
	notice := ""
	switch r.URL.Query().Get("done") {
	case "saved":
		notice = "Saved. The bot uses the new settings from the next message on."
	case "same":
		notice = "Nothing was changed."
	}
	s.renderSettings(w, r, b, sess, http.StatusOK, nil, nil, notice)
}

// renderSettings shows the settings; values and errs, after a refused
// save, are what was typed and why it was refused.
func (s *Server) renderSettings(w http.ResponseWriter, r *http.Request, b *bot, sess *session, status int,
	values map[string]string, errs map[string]string, notice string) {
	pg, err := s.pageFor(r, b, sess, b.Name+": catalog and settings")
	if err != nil {
		s.internal(w, r, err)
		return
	}
	pg.Live = "" // a form being edited is not refreshed under the owner's hands
	v := settingsView{page: pg, Notice: notice, Errors: len(errs)}
	ed, _ := s.handlerOf(b).(backoffice.Settings)
	if ed == nil {
		v.NoConfig = true
		s.render(w, r, status, "settings.html", v)
		return
	}
	for _, st := range ed.Settings() {
		f := settingField{Setting: st, ID: fieldID(st.Key), Error: errs[st.Key]}
		if val, ok := values[st.Key]; ok {
			f.Value = val
		}
		if n := len(v.Groups); n == 0 || v.Groups[n-1].Name != st.Group {
			v.Groups = append(v.Groups, settingsGroup{Name: st.Group})
		}
		g := &v.Groups[len(v.Groups)-1]
		g.Fields = append(g.Fields, f)
	}
	if msg := errs[""]; msg != "" {
		v.Notice = ""
		v.Groups = append([]settingsGroup{{Name: "Problem", Fields: []settingField{{Error: msg}}}}, v.Groups...)
	}
	if v.Audit, err = store.Audit(r.Context(), s.opts.DB, b.UserID.String(), auditSettings, 50); err != nil {
		s.internal(w, r, err)
		return
	}
	for i := range v.Audit {
		v.Audit[i].What = strings.TrimPrefix(v.Audit[i].What, auditSettings)
	}
	s.render(w, r, status, "settings.html", v)
}

// normalize is a typed value as the service writes it, so "12.5" and
// "12.50" are the same price and a checkbox reads yes or no.
func normalize(st backoffice.Setting, r *http.Request) string {
	v := r.PostFormValue(fieldID(st.Key))
	switch st.Kind {
	case backoffice.SoldOut:
		if v != "" {
			return "yes"
		}
		return "no"
	case backoffice.Money:
		if p, err := backoffice.ParseMoney(v); err == nil {
			return backoffice.FormatMoney(p)
		}
		return strings.TrimSpace(v)
	case backoffice.Multiline:
		return strings.TrimSpace(strings.ReplaceAll(v, "\r\n", "\n"))
	}
	return strings.TrimSpace(v)
}

// saveSettings stores what changed and applies every override to the
// running bot in the same transaction: a value the service refuses
// changes nothing and shows the form again, with the reason by the field.
func (s *Server) saveSettings(w http.ResponseWriter, r *http.Request) {
	b, sess, ok := s.staffFor(w, r, pageSettings)
	if !ok {
		return
	}
	ed, _ := s.handlerOf(b).(backoffice.Settings)
	if ed == nil {
		s.fail(w, r, http.StatusNotFound, "This bot has no settings to change here.")
		return
	}
	ctx, bid := r.Context(), b.UserID.String()
	stored, err := store.BotSettings(ctx, s.opts.DB, bid)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	type change struct {
		st       backoffice.Setting
		old, new string
	}
	var changes []change
	typed := map[string]string{}
	settings := ed.Settings()
	known := map[string]bool{}
	for _, st := range settings {
		known[st.Key] = true
	}
	// Overrides of settings the service no longer has (an item gone from
	// the catalog file) are dropped, or no save could pass.
	next, stale := map[string]string{}, []string{}
	for k, v := range stored {
		if known[k] {
			next[k] = v
		} else {
			stale = append(stale, k)
		}
	}
	for _, st := range settings {
		if _, sent := r.PostForm[fieldID(st.Key)]; !sent && st.Kind != backoffice.SoldOut {
			continue // a form from before the setting existed
		}
		v := normalize(st, r)
		typed[st.Key] = v
		if v == st.Value {
			continue
		}
		changes = append(changes, change{st, st.Value, v})
		if v == st.Default {
			delete(next, st.Key)
		} else {
			next[st.Key] = v
		}
	}
	if len(changes) == 0 {
		http.Redirect(w, r, botPath(b, "settings")+"?done=same", http.StatusSeeOther)
		return
	}
	applied := false
	err = s.opts.DB.Tx(ctx, func(tx store.Tx) error {
		for _, k := range stale {
			if err := store.ResetBotSetting(ctx, tx, bid, k); err != nil {
				return err
			}
		}
		for _, c := range changes {
			var err error
			if _, over := next[c.st.Key]; over {
				err = store.SetBotSetting(ctx, tx, bid, c.st.Key, c.new, sess.User.String())
			} else {
				err = store.ResetBotSetting(ctx, tx, bid, c.st.Key)
			}
			if err != nil {
				return err
			}
			if err := store.AddAudit(ctx, tx, bid, store.AuditEntry{User: sess.User.String(), Time: store.Now(),
				What: auditSettings + c.st.Group + " · " + c.st.Label, Old: c.old, New: c.new}); err != nil {
				return err
			}
		}
		// Other processes apply them too once this commits.
		if err := s.opts.DB.NotifySettings(ctx, tx, bid); err != nil {
			return err
		}
		// Last, so a refused value rolls the transaction back.
		if err := ed.ApplySettings(next); err != nil {
			return err
		}
		applied = true
		return nil
	})
	if err != nil {
		if applied { // the commit failed after the bot took the new values
			if rerr := ed.ApplySettings(stored); rerr != nil {
				s.opts.Log.Error().Err(rerr).Str("bot", bid).Msg("cannot restore the bot's settings after a failed save")
			}
		}
		if fe := backoffice.AsFieldErrors(err); fe != nil {
			errs := map[string]string{}
			for _, f := range fe {
				errs[f.Key] = f.Msg
			}
			s.renderSettings(w, r, b, sess, http.StatusBadRequest, typed, errs, "")
			return
		}
		s.internal(w, r, err)
		return
	}
	s.opts.Log.Info().Str("bot", bid).Str("staff", sess.User.String()).Int("changes", len(changes)).Msg("settings changed in the console")
	http.Redirect(w, r, botPath(b, "settings")+"?done=saved", http.StatusSeeOther)
}
