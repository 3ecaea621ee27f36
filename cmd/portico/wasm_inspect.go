package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
	"github.com/tetratelabs/wazero"

	"github.com/portico-gw/portico/internal/proxy/filters/wasm/abi"
	"github.com/portico-gw/portico/internal/wasm"
	"github.com/portico-gw/portico/internal/wasm/oci"
)

// inspection is what `portico wasm inspect` reports.
type inspection struct {
	Reference      string      `json:"reference"`
	Source         string      `json:"source"`
	Format         oci.Format  `json:"format"`
	MediaType      string      `json:"mediaType"`
	ManifestDigest string      `json:"manifestDigest"`
	IndexDigest    string      `json:"indexDigest,omitempty"`
	Platform       string      `json:"platform,omitempty"`
	Layers         []layerInfo `json:"layers"`
	ModuleSize     int         `json:"moduleSize"`
	ModuleSHA256   string      `json:"moduleSHA256"`
	ABIVersions    []string    `json:"proxyWasmABI"`
	Exports        []string    `json:"exports"`
	Imports        []string    `json:"imports"`
	// Unimplemented are imports Portico's host answers UNIMPLEMENTED.
	Unimplemented []string `json:"unimplemented,omitempty"`
	Runs          bool     `json:"runsOnPortico"`
	Why           string   `json:"why,omitempty"`
}

type layerInfo struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

func newWasmInspectCommand() *cobra.Command {
	var layoutDir, rootID, output string
	var rf registryFlags
	cmd := &cobra.Command{
		Use:   "inspect REF [--oci-layout DIR] [--root-id ID]",
		Short: "Show an image's format, digests and module, and whether Portico can run it",
		Long: `inspect reads REF from the OCI layout when 'portico wasm build' saved it there,
else from its registry (the same pull Portico does for a policy). It prints the
format, the manifest digest (the policy's image.sha256), the module's sha256, its
exports, imports and proxy-wasm ABI, and whether Portico's host runs it: the module
is compiled and one VM started with --root-id.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, mod, err := readImage(cmd.Context(), args[0], layoutDir, &rf, cmd.InOrStdin())
			if err != nil {
				return err
			}
			describeModule(cmd.Context(), in, mod, rootID)
			out := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(in)
			}
			printInspection(out, in)
			return nil
		},
	}
	cmd.Flags().StringVar(&layoutDir, "oci-layout", defaultLayout(), "the OCI layout looked in first")
	cmd.Flags().StringVar(&rootID, "root-id", "", "the root ID a policy would give the plugin")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	rf.add(cmd)
	return cmd
}

// readImage resolves ref from the layout or its registry and extracts the
// module, with Envoy Gateway's size limit.
func readImage(ctx context.Context, ref, layoutDir string, rf *registryFlags, stdin io.Reader) (*inspection, []byte, error) {
	in := &inspection{Reference: ref}
	var im *oci.Image
	img, err := oci.FromLayout(layoutDir, ref)
	switch {
	case err == nil:
		in.Source = "OCI layout " + layoutDir
		if im, err = oci.FromImage(img); err != nil {
			return nil, nil, err
		}
	case errors.Is(err, oci.ErrNotInLayout):
		c, cerr := rf.client(stdin)
		if cerr != nil {
			return nil, nil, cerr
		}
		in.Source = "registry"
		if im, err = c.Resolve(ctx, ref); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, err
	}
	in.ManifestDigest = "sha256:" + im.Digest
	if im.IndexDigest != "" {
		in.IndexDigest = "sha256:" + im.IndexDigest
		if im.Platform != nil {
			in.Platform = im.Platform.String()
		}
	}
	m, err := im.Manifest()
	if err != nil {
		return nil, nil, err
	}
	in.MediaType = string(m.MediaType)
	for _, l := range m.Layers {
		in.Layers = append(in.Layers, layerInfo{MediaType: string(l.MediaType), Digest: l.Digest.String(), Size: l.Size})
	}
	mod, format, err := im.Module(wasm.DefaultMaxSize)
	if err != nil {
		return nil, nil, fmt.Errorf("the image cannot be used: %w", err)
	}
	in.Format = format
	return in, mod, nil
}

// describeModule fills in the module's facts and tries it on Portico's
// proxy-wasm host.
func describeModule(ctx context.Context, in *inspection, mod []byte, rootID string) {
	sum := sha256.Sum256(mod)
	in.ModuleSize, in.ModuleSHA256 = len(mod), hex.EncodeToString(sum[:])
	in.Exports, _ = wasm.Exports(mod)
	abis, err := proxyWasmABIs(mod)
	in.ABIVersions = abis
	if err != nil {
		in.Why = err.Error()
		return
	}
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	if compiled, err := rt.CompileModule(ctx, mod); err == nil {
		for _, f := range compiled.ImportedFunctions() {
			m, n, _ := f.Import()
			in.Imports = append(in.Imports, m+"."+n)
		}
	}
	p, err := abi.Load(ctx, mod, abi.PluginConfig{Name: "inspect", RootID: rootID, VMID: "inspect", PoolSize: 1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		in.Why = err.Error()
		return
	}
	defer p.Close()
	in.Runs = true
	in.Unimplemented = p.Unimplemented()
}

func printInspection(w io.Writer, in *inspection) {
	row := func(k, v string) { fmt.Fprintf(w, "%-17s %s\n", k+":", v) }
	row("reference", in.Reference)
	row("source", in.Source)
	row("format", fmt.Sprintf("%s (%s)", in.Format, in.MediaType))
	row("manifest digest", in.ManifestDigest+"   (image.sha256 of a policy: "+strings.TrimPrefix(in.ManifestDigest, "sha256:")+")")
	if in.IndexDigest != "" {
		row("index digest", in.IndexDigest+" (entry "+in.Platform+")")
	}
	for _, l := range in.Layers {
		row("layer", fmt.Sprintf("%s %s %d bytes", l.MediaType, l.Digest, l.Size))
	}
	row("module", fmt.Sprintf("%d bytes, sha256 %s", in.ModuleSize, in.ModuleSHA256))
	row("proxy-wasm ABI", strings.Join(in.ABIVersions, ", "))
	row("exports", strings.Join(in.Exports, ", "))
	row("imports", strings.Join(in.Imports, ", "))
	if len(in.Unimplemented) > 0 {
		row("unimplemented", strings.Join(in.Unimplemented, ", ")+" (answer UNIMPLEMENTED)")
	}
	if in.Runs {
		row("runs on Portico", "yes")
	} else {
		row("runs on Portico", "no: "+in.Why)
	}
}
