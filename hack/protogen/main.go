// Command protogen compiles proto/extension/*.proto without protoc and runs
// protoc-gen-go and protoc-gen-go-grpc on the result.
//
// Envoy's .proto sources are not in the Go module cache, but their compiled
// descriptors are linked into go-control-plane's packages; imports are
// resolved from protoregistry.GlobalFiles, so the generated code refers to
// exactly the message definitions Portico links against.
//
// Usage: protogen -root DIR -out DIR -plugin-go BIN -plugin-grpc BIN FILE.proto...
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/pluginpb"

	// Register the descriptors the extension API imports.
	_ "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

func main() {
	root := flag.String("root", ".", "import root of the .proto files")
	out := flag.String("out", ".", "output root")
	pluginGo := flag.String("plugin-go", "protoc-gen-go", "protoc-gen-go binary")
	pluginGRPC := flag.String("plugin-grpc", "protoc-gen-go-grpc", "protoc-gen-go-grpc binary")
	flag.Parse()
	files := flag.Args()
	if len(files) == 0 {
		log.Fatal("no .proto files given")
	}
	comp := protocompile.Compiler{
		Resolver: protocompile.CompositeResolver{
			&protocompile.SourceResolver{ImportPaths: []string{*root}},
			protocompile.ResolverFunc(func(path string) (protocompile.SearchResult, error) {
				fd, err := protoregistry.GlobalFiles.FindFileByPath(path)
				if err != nil {
					return protocompile.SearchResult{}, err
				}
				return protocompile.SearchResult{Desc: fd}, nil
			}),
		},
		SourceInfoMode: protocompile.SourceInfoStandard,
	}
	compiled, err := comp.Compile(context.Background(), files...)
	if err != nil {
		log.Fatal(err)
	}
	req := &pluginpb.CodeGeneratorRequest{FileToGenerate: files}
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		imps := fd.Imports()
		for i := 0; i < imps.Len(); i++ {
			add(imps.Get(i).FileDescriptor)
		}
		req.ProtoFile = append(req.ProtoFile, protodesc.ToFileDescriptorProto(fd))
	}
	for _, f := range compiled {
		add(f)
	}
	run(*pluginGo, "paths=source_relative", req, *out)
	run(*pluginGRPC, "paths=source_relative", req, *out)
}

// run feeds the request to one plugin and writes the files it returns.
func run(plugin, param string, req *pluginpb.CodeGeneratorRequest, out string) {
	r := proto.Clone(req).(*pluginpb.CodeGeneratorRequest)
	r.Parameter = proto.String(param)
	r.CompilerVersion = &pluginpb.Version{Major: proto.Int32(5), Minor: proto.Int32(29), Patch: proto.Int32(0)}
	in, err := proto.Marshal(r)
	if err != nil {
		log.Fatal(err)
	}
	cmd := exec.Command(plugin)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stderr = os.Stderr
	data, err := cmd.Output()
	if err != nil {
		log.Fatalf("%s: %v", plugin, err)
	}
	var resp pluginpb.CodeGeneratorResponse
	if err := proto.Unmarshal(data, &resp); err != nil {
		log.Fatal(err)
	}
	if resp.Error != nil {
		log.Fatalf("%s: %s", plugin, resp.GetError())
	}
	for _, f := range resp.File {
		p := filepath.Join(out, f.GetName())
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.GetContent()), 0o644); err != nil {
			log.Fatal(err)
		}
		fmt.Println("wrote", p)
	}
}
