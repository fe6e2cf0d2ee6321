package deploy

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfile: the image runs dropspot directly, built statically from
// the command that exists.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for _, want := range []string{
		"FROM --platform=$BUILDPLATFORM golang:1.26 AS build",
		"GOARCH=$TARGETARCH",
		"CGO_ENABLED=0",
		"-o /dropspot ./cmd/dropspot",
		`ENTRYPOINT ["/dropspot"]`,
		`CMD ["serve", "--listen", ":9435"]`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if !regexp.MustCompile(`(?m)^FROM (gcr\.io/distroless/static\S*|scratch)\s*$`).MatchString(s) {
		t.Error("final stage should be distroless/static or scratch")
	}
	if _, err := os.Stat("../cmd/dropspot/main.go"); err != nil {
		t.Errorf("the Dockerfile builds ./cmd/dropspot: %v", err)
	}
}
