package capture

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func ipv4UDP(t *testing.T) []byte {
	buf := gopacket.NewSerializeBuffer()
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: []byte{198, 18, 0, 1}, DstIP: []byte{198, 18, 0, 2}}
	udp := &layers.UDP{SrcPort: 40000, DstPort: 9}
	udp.SetNetworkLayerForChecksum(ip)
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		ip, udp, gopacket.Payload([]byte("hello"))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func write(t *testing.T, packets ...Packet) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := NewWriter(&out, 128)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range packets {
		if err := w.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func packet(data []byte, ifindex uint32, comment string) Packet {
	return Packet{CaptureInfo: gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, 5), CaptureLength: len(data), Length: len(data)},
		Data: data, Netns: 4026531840, Ifindex: ifindex, Ifname: "veth0", Comment: comment}
}

func TestRoundTrip(t *testing.T) {
	data := ipv4UDP(t)
	file := write(t, packet(data, 3, "NO_SOCKET at __udp4_lib_rcv+0x4bc after l4.rcv"), packet(data, 0, ""), packet(data, 3, "again"))
	r, err := pcapgo.NewNgReader(bytes.NewReader(file), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	var ifaces []int
	for {
		got, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		if !bytes.Equal(got, data) {
			t.Errorf("packet bytes changed")
		}
		ifaces = append(ifaces, ci.InterfaceIndex)
	}
	if len(ifaces) != 3 || ifaces[0] != 1 || ifaces[1] != 0 || ifaces[2] != 1 {
		t.Errorf("interfaces %v, want [1 0 1]", ifaces)
	}
	if r.NInterfaces() != 2 {
		t.Errorf("%d interface blocks, want 2", r.NInterfaces())
	}
}

// tshark (Wireshark's reader) opens the file and shows the comments.
func TestTsharkReadsComments(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tshark is not installed (apt-get install tshark)")
		}
		t.Skip("tshark is not installed")
	}
	path := filepath.Join(t.TempDir(), "drops.pcapng")
	data := ipv4UDP(t)
	if err := os.WriteFile(path, write(t, packet(data, 3, "NO_SOCKET after l4.rcv"), packet(data, 3, "NO_SOCKET after l4.rcv")), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tshark, "-r", path, "-T", "fields", "-e", "frame.comment", "-e", "udp.dstport")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "NO_SOCKET after l4.rcv\t9") {
		t.Errorf("tshark output:\n%s", out)
	}
}
