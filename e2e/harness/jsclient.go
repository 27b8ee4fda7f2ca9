package harness

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// JSClientDir is e2e/jsclient under the repository root: the
// matrix-js-sdk client (client.mjs) and its pinned npm packages.
func JSClientDir(root string) string { return filepath.Join(root, "e2e", "jsclient") }

// Node returns the Node.js binary for e2e/jsclient: $E2E_NODE, else
// "node" on PATH.
func Node() string {
	if n := os.Getenv("E2E_NODE"); n != "" {
		return n
	}
	return "node"
}

// CheckJSClient reports whether node can load the js client's packages
// (matrix-js-sdk and its Rust crypto, installed by
// scripts/install-js-client.sh into e2e/jsclient/node_modules).
func CheckJSClient(node, dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--input-type=module", "-e",
		`await import("matrix-js-sdk"); const w = await import("@matrix-org/matrix-sdk-crypto-wasm"); await w.initAsync();`)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("harness: %s cannot load matrix-js-sdk and matrix-sdk-crypto-wasm from %s (run scripts/install-js-client.sh): %v: %s",
			node, dir, err, bytes.TrimSpace(out))
	}
	return nil
}

// NodeWithJSClient returns Node() and the path of e2e/jsclient/client.mjs,
// failing the test (skipping it with E2E_ALLOW_SKIP=1) when node or the
// client's packages are missing.
func NodeWithJSClient(t testing.TB) (node, script string) {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	node = Node()
	if err := CheckJSClient(node, JSClientDir(root)); err != nil {
		SkipOrFail(t, "%v", err)
	}
	return node, filepath.Join(JSClientDir(root), "client.mjs")
}
