package daggerengine_test

// A stand-in for a Dagger session: an HTTP endpoint that speaks the GraphQL
// the Go SDK sends, records every query, and answers the leaf fields (IDs,
// exports, publishes) with plausible values. Each query is a chain of
// calls; every ID handed out remembers the chain that made it, so a later
// query that passes the ID (as an argument or through node(id:)) can be
// traced back to the calls that define the object. model_test.go evaluates
// those chains into containers, directories and files, which is what the
// contract tests check field by field.
//
// No Dagger engine runs here: this checks what agentship asks Dagger to do,
// not what Dagger does with it.

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// call is one field of a query chain with its arguments as Go values:
// string, int64, float64, bool, nil, enum, []any, map[string]any.
type call struct {
	Field string
	Args  map[string]any
}

type enum string

func (c call) str(name string) string {
	s, _ := c.Args[name].(string)
	return s
}

func (c call) int(name string) (int64, bool) {
	n, ok := c.Args[name].(int64)
	return n, ok
}

func (c call) strs(name string) []string {
	l, _ := c.Args[name].([]any)
	var out []string
	for _, v := range l {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

func (c call) String() string {
	b, _ := json.Marshal(c.Args)
	return c.Field + string(b)
}

type session struct {
	t     *testing.T
	srv   *httptest.Server
	token string

	mu      sync.Mutex
	bodies  []string          // every request body, as sent
	queries []string          // every GraphQL query
	ids     map[string][]call // id -> the chain that defines the object
	m       *model
}

// newSession starts the stand-in and points the SDK at it through the
// environment a `dagger run` session sets: DAGGER_SESSION_PORT and
// DAGGER_SESSION_TOKEN.
func newSession(t *testing.T) *session {
	t.Helper()
	s := &session{t: t, token: "fake-session-token", ids: map[string][]call{}}
	s.m = newModel(s)
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	_, port, _ := net.SplitHostPort(s.srv.Listener.Addr().String())
	t.Setenv("DAGGER_SESSION_PORT", port)
	t.Setenv("DAGGER_SESSION_TOKEN", s.token)
	return s
}

func (s *session) serve(w http.ResponseWriter, r *http.Request) {
	user, _, ok := r.BasicAuth()
	if !ok || user != s.token {
		http.Error(w, "bad session token", http.StatusUnauthorized)
		return
	}
	if r.URL.Path != "/query" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var req struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.bodies = append(s.bodies, string(body))
	s.queries = append(s.queries, req.Query)
	s.mu.Unlock()

	data, err := s.answerQuery(req.Query)
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		s.t.Errorf("fake session: %v\nquery: %s", err, req.Query)
		json.NewEncoder(w).Encode(map[string]any{
			"data":   nil,
			"errors": []map[string]any{{"message": err.Error()}},
		})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"data": data})
}

func (s *session) answerQuery(q string) (map[string]any, error) {
	doc, err := parser.ParseQuery(&ast.Source{Input: q})
	if err != nil {
		return nil, fmt.Errorf("unparsable query: %v", err)
	}
	if len(doc.Operations) != 1 {
		return nil, fmt.Errorf("want one operation, got %d", len(doc.Operations))
	}
	return s.answer(doc.Operations[0].SelectionSet, nil)
}

func (s *session) answer(set ast.SelectionSet, chain []call) (map[string]any, error) {
	out := map[string]any{}
	for _, sel := range set {
		switch x := sel.(type) {
		case *ast.Field:
			args := map[string]any{}
			for _, a := range x.Arguments {
				v, err := goValue(a.Value)
				if err != nil {
					return nil, err
				}
				args[a.Name] = v
			}
			ch := append(append([]call(nil), chain...), call{Field: x.Name, Args: args})
			key := x.Alias
			if key == "" {
				key = x.Name
			}
			if len(x.SelectionSet) == 0 {
				v, err := s.leaf(ch)
				if err != nil {
					return nil, err
				}
				out[key] = v
				continue
			}
			v, err := s.answer(x.SelectionSet, ch)
			if err != nil {
				return nil, err
			}
			out[key] = v
		case *ast.InlineFragment:
			v, err := s.answer(x.SelectionSet, chain)
			if err != nil {
				return nil, err
			}
			for k, val := range v {
				out[k] = val
			}
		default:
			return nil, fmt.Errorf("unexpected selection %T", sel)
		}
	}
	return out, nil
}

func goValue(v *ast.Value) (any, error) {
	switch v.Kind {
	case ast.StringValue, ast.BlockValue:
		return v.Raw, nil
	case ast.IntValue:
		return strconv.ParseInt(v.Raw, 10, 64)
	case ast.FloatValue:
		return strconv.ParseFloat(v.Raw, 64)
	case ast.BooleanValue:
		return v.Raw == "true", nil
	case ast.NullValue:
		return nil, nil
	case ast.EnumValue:
		return enum(v.Raw), nil
	case ast.ListValue:
		var out []any
		for _, c := range v.Children {
			cv, err := goValue(c.Value)
			if err != nil {
				return nil, err
			}
			out = append(out, cv)
		}
		return out, nil
	case ast.ObjectValue:
		out := map[string]any{}
		for _, c := range v.Children {
			cv, err := goValue(c.Value)
			if err != nil {
				return nil, err
			}
			out[c.Name] = cv
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported argument kind %v (variables are not used by the SDK)", v.Kind)
}

// resolve replaces a leading node(id:) with the chain that made the ID.
func (s *session) resolve(chain []call) ([]call, error) {
	if len(chain) > 0 && chain[0].Field == "node" {
		s.mu.Lock()
		base, ok := s.ids[chain[0].str("id")]
		s.mu.Unlock()
		if !ok {
			return nil, fmt.Errorf("node(id:) with an ID this session never gave: %q", chain[0].str("id"))
		}
		return append(append([]call(nil), base...), chain[1:]...), nil
	}
	return chain, nil
}

// newID hands out an ID for the object the chain defines. IDs look like
// the engine's (opaque base64), and the same chain always gets the same ID.
func (s *session) newID(chain []call) string {
	var b strings.Builder
	for _, c := range chain {
		b.WriteString(c.String())
		b.WriteByte('.')
	}
	sum := sha256.Sum256([]byte(b.String()))
	id := base64.RawStdEncoding.EncodeToString(sum[:18])
	s.mu.Lock()
	s.ids[id] = chain
	s.mu.Unlock()
	return id
}

// chainOf is the chain behind an ID passed as an argument.
func (s *session) chainOf(id string) ([]call, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.ids[id]
	return c, ok
}

// leaf answers a scalar field: IDs and syncs get an ID, exports write the
// evaluated object to the host path they name, publishes return a digest
// reference. Any other leaf is a field the contract does not expect.
func (s *session) leaf(chain []call) (any, error) {
	chain, err := s.resolve(chain)
	if err != nil {
		return nil, err
	}
	obj, last := chain[:len(chain)-1], chain[len(chain)-1]
	switch last.Field {
	case "id", "sync":
		if _, err := s.m.eval(obj); err != nil {
			return nil, err
		}
		return s.newID(obj), nil
	case "export":
		return s.m.export(obj, last)
	case "publish":
		return s.m.publish(obj, last)
	}
	return nil, fmt.Errorf("the fake session does not answer %q", last.Field)
}

// allText is every request body the SDK sent, for the secret checks.
func (s *session) allText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.bodies, "\n")
}

func (s *session) queryCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queries)
}

func (s *session) countQueries(substr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, q := range s.queries {
		if strings.Contains(q, substr) {
			n++
		}
	}
	return n
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
