// Package deploy holds dropspot's deployment files (Kubernetes manifests,
// Dockerfile, Grafana dashboard). Its tests parse them and check the fields
// that matter; they need no privilege and no network.
package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// manifests is every document of every YAML file under kubernetes/, decoded
// strictly into the Kubernetes API types (the ServiceMonitor into the
// Prometheus operator's): a field the API does not have, such as a typo like
// mountPropogation, fails the test.
type manifests struct {
	heads          []manifestHead
	namespace      *corev1.Namespace
	serviceAccount *corev1.ServiceAccount
	daemonSet      *appsv1.DaemonSet
	service        *corev1.Service
	serviceMonitor *monitoringv1.ServiceMonitor
}

// manifestHead is what every document has: its kind and its name.
type manifestHead struct {
	where             string
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
}

// decodeOnce decodes the one document of its kind strictly into *slot.
func decodeOnce[T any](t *testing.T, where string, data []byte, slot **T) {
	t.Helper()
	if *slot != nil {
		t.Fatalf("%s: a second one in kubernetes/", where)
	}
	*slot = new(T)
	if err := yaml.UnmarshalStrict(data, *slot); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
}

func loadManifests(t *testing.T) *manifests {
	t.Helper()
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests under kubernetes/ (%v)", err)
	}
	m := &manifests{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		docs := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for i := 0; ; i++ {
			doc, err := docs.Read()
			if errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s document %d: %v", file, i, err)
			}
			var head manifestHead
			if err := yaml.Unmarshal(doc, &head); err != nil {
				t.Fatalf("%s document %d: %v", file, i, err)
			}
			if head.Kind == "" && head.Name == "" {
				continue // only comments
			}
			head.where = fmt.Sprintf("%s document %d (%s)", file, i, head.Kind)
			m.heads = append(m.heads, head)
			switch head.Kind {
			case "Namespace":
				decodeOnce(t, head.where, doc, &m.namespace)
			case "ServiceAccount":
				decodeOnce(t, head.where, doc, &m.serviceAccount)
			case "DaemonSet":
				decodeOnce(t, head.where, doc, &m.daemonSet)
			case "Service":
				decodeOnce(t, head.where, doc, &m.service)
			case "ServiceMonitor":
				decodeOnce(t, head.where, doc, &m.serviceMonitor)
			default:
				t.Fatalf("%s: unexpected kind", head.where)
			}
		}
	}
	for kind, have := range map[string]bool{
		"Namespace": m.namespace != nil, "ServiceAccount": m.serviceAccount != nil,
		"DaemonSet": m.daemonSet != nil, "Service": m.service != nil, "ServiceMonitor": m.serviceMonitor != nil,
	} {
		if !have {
			t.Fatalf("no %s in kubernetes/", kind)
		}
	}
	return m
}

func (m *manifests) podSpec() *corev1.PodSpec {
	return &m.daemonSet.Spec.Template.Spec
}

func (m *manifests) container(t *testing.T) *corev1.Container {
	t.Helper()
	cs := m.podSpec().Containers
	if len(cs) != 1 {
		t.Fatalf("DaemonSet has %d containers, want 1", len(cs))
	}
	return &cs[0]
}

func TestManifestAPIVersions(t *testing.T) {
	m := loadManifests(t)
	for _, h := range m.heads {
		want := map[string]string{
			"Namespace": "v1", "ServiceAccount": "v1", "Service": "v1",
			"DaemonSet": "apps/v1", "ServiceMonitor": "monitoring.coreos.com/v1",
		}[h.Kind]
		if h.APIVersion != want {
			t.Errorf("%s: apiVersion %s, want %s", h.where, h.APIVersion, want)
		}
		if h.Name != "dropspot" {
			t.Errorf("%s: name %s, want dropspot", h.where, h.Name)
		}
		if h.Kind != "Namespace" && h.Namespace != "dropspot" {
			t.Errorf("%s: namespace %s, want dropspot", h.where, h.Namespace)
		}
	}
}
