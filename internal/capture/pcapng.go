// Package capture writes dropped packets to pcapng, one interface block per
// (network namespace, interface), with the drop's reason, location and stage
// as the packet comment, for Wireshark and tshark.
package capture

import (
	"bufio"
	"fmt"
	"io"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Packet is one dropped packet to write.
type Packet struct {
	gopacket.CaptureInfo        // Timestamp, CaptureLength, Length; InterfaceIndex is set by Write
	Data                 []byte // from the IP header on
	Netns                uint32
	Ifindex              uint32
	Ifname               string // "" when unknown
	Comment              string
}

// Writer adds interfaces as packets from them arrive.
type Writer struct {
	buf     *bufio.Writer
	ng      *pcapgo.NgWriter
	snaplen uint32
	ifaces  map[[2]uint32]int
}

// NewWriter starts a pcapng section. Packets are raw IP (LINKTYPE_RAW):
// captures start at the IP header at every stage, so the link layer is not
// in them. Interface 0 stands for packets whose device is unknown.
func NewWriter(w io.Writer, snaplen uint32) (*Writer, error) {
	buf := bufio.NewWriter(w)
	ng, err := pcapgo.NewNgWriterInterface(buf, pcapgo.NgInterface{
		Name: "unknown", Description: "dropped packets with no device", LinkType: layers.LinkTypeRaw, SnapLength: snaplen,
	}, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "dropspot", Comment: "packets the kernel dropped"}})
	if err != nil {
		return nil, fmt.Errorf("pcapng: %w", err)
	}
	return &Writer{buf: buf, ng: ng, snaplen: snaplen, ifaces: map[[2]uint32]int{}}, nil
}

// Write appends one packet, adding its interface block first if new.
func (w *Writer) Write(p Packet) error {
	ci := p.CaptureInfo
	if p.Ifindex != 0 {
		key := [2]uint32{p.Netns, p.Ifindex}
		id, ok := w.ifaces[key]
		if !ok {
			name := p.Ifname
			if name == "" {
				name = fmt.Sprintf("if%d", p.Ifindex)
			}
			var err error
			id, err = w.ng.AddInterface(pcapgo.NgInterface{
				Name:        fmt.Sprintf("%s@netns:%d", name, p.Netns),
				Description: fmt.Sprintf("ifindex %d in network namespace %d", p.Ifindex, p.Netns),
				LinkType:    layers.LinkTypeRaw,
				SnapLength:  w.snaplen,
			})
			if err != nil {
				return fmt.Errorf("pcapng interface: %w", err)
			}
			w.ifaces[key] = id
		}
		ci.InterfaceIndex = id
	}
	var opts pcapgo.NgPacketOptions
	if p.Comment != "" {
		opts.Comments = []string{p.Comment}
	}
	return w.ng.WritePacketWithOptions(ci, p.Data, opts)
}

// Flush writes what is buffered; call it before closing the file.
func (w *Writer) Flush() error {
	if err := w.ng.Flush(); err != nil {
		return err
	}
	return w.buf.Flush()
}
