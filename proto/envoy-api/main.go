// Writes the Envoy API descriptors that `npm run proto` generates TypeScript from, as a
// google.protobuf.FileDescriptorSet (which buf reads as a binary image).
//
// The Envoy API comes from the Go module github.com/envoyproxy/go-control-plane/envoy, pinned in
// go.mod to the Envoy release faas-waker runs against. That module ships no .proto files, but each
// generated .pb.go embeds its file's descriptor: importing the packages registers them, and this
// program writes the named files and everything they import. Descriptors carry no comments (the
// generated TypeScript has none) but every message, field number, type and option of the .proto.
//
// Usage: go run . OUT.binpb envoy/service/ext_proc/v3/external_processor.proto [more.proto ...]
package main

import (
	"fmt"
	"os"

	_ "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: go run . OUT.binpb FILE.proto...")
		os.Exit(2)
	}
	set := &descriptorpb.FileDescriptorSet{}
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) { // imports first, as protoc orders a set
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		for i := 0; i < fd.Imports().Len(); i++ {
			add(fd.Imports().Get(i).FileDescriptor)
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
	}
	for _, path := range os.Args[2:] {
		fd, err := protoregistry.GlobalFiles.FindFileByPath(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v (import its Go package in main.go)\n", path, err)
			os.Exit(1)
		}
		add(fd)
	}
	out, err := proto.MarshalOptions{Deterministic: true}.Marshal(set)
	if err == nil {
		err = os.WriteFile(os.Args[1], out, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
