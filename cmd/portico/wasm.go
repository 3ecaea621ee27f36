package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/spf13/cobra"

	"github.com/portico-gw/portico/internal/wasm"
	"github.com/portico-gw/portico/internal/wasm/oci"
)

// defaultLayout is where `portico wasm build` keeps images for push.
func defaultLayout() string {
	if d := os.Getenv("PORTICO_OCI_LAYOUT"); d != "" {
		return d
	}
	d, err := os.UserCacheDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "portico", "images")
}

func newWasmCommand() *cobra.Command {
	w := &cobra.Command{
		Use:   "wasm",
		Short: "Package Wasm extensions as images Envoy Gateway and Portico pull",
		Long: `wasm builds, pushes and inspects the images a code.type Image EnvoyExtensionPolicy
names, without docker or buildah. Images are kept in an OCI layout (--oci-layout,
default $PORTICO_OCI_LAYOUT or <user cache>/portico/images) between build and push.`,
	}
	w.AddCommand(newWasmBuildCommand(), newWasmPushCommand(), newWasmInspectCommand())
	return w
}

func newWasmBuildCommand() *cobra.Command {
	var tag, format, layoutDir string
	var rootIDs []string
	cmd := &cobra.Command{
		Use:   "build plugin.wasm -t REF [--format docker|oci|artifact] [--oci-layout DIR]",
		Short: "Make an image of a proxy-wasm module",
		Long: `build makes a one-module image as the Wasm OCI images guide's recipes do:
docker (a Docker image, one layer with plugin.wasm at its root, as 'docker build'
with the guide's Dockerfile), oci (the same with OCI media types, as buildah), or
artifact (the Wasm OCI artifact: a runtime config and the raw module). The same
module and format always give the same digest. It refuses a file that is not a
proxy-wasm module.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tag == "" {
				return errors.New("-t REF is required: the image's name, e.g. 127.0.0.1:5000/wasm/plugin:v1")
			}
			if _, err := oci.Reference(tag); err != nil {
				return err
			}
			mod, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			abis, err := proxyWasmABIs(mod)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			img, err := oci.Build(mod, oci.Format(format), oci.RuntimeConfig{ABIVersions: abis, Config: oci.RuntimeRoots{RootIDs: rootIDs}})
			if err != nil {
				return err
			}
			if err := oci.SaveToLayout(layoutDir, tag, img); err != nil {
				return err
			}
			d, err := img.Digest()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s image, manifest digest %s, saved in %s\n", tag, format, d, layoutDir)
			fmt.Fprintf(cmd.OutOrStdout(), "policy: code: {type: Image, image: {url: %s, sha256: %s}}\n", tag, d.Hex)
			return nil
		},
	}
	cmd.Flags().StringVarP(&tag, "tag", "t", "", "the image reference, e.g. 127.0.0.1:5000/wasm/plugin:v1")
	cmd.Flags().StringVar(&format, "format", string(oci.FormatOCI), "docker, oci or artifact")
	cmd.Flags().StringVar(&layoutDir, "oci-layout", defaultLayout(), "the OCI layout the image is saved in")
	cmd.Flags().StringSliceVar(&rootIDs, "root-id", nil, "root IDs the module registers (recorded in an artifact's runtime config)")
	return cmd
}

// proxyWasmABIs returns the proxy-wasm ABI versions a module exports, or
// why it is not a proxy-wasm module.
func proxyWasmABIs(mod []byte) ([]string, error) {
	exports, err := wasm.Exports(mod)
	if err != nil {
		return nil, err
	}
	var abis []string
	for _, v := range wasm.ABIVersions {
		if slices.Contains(exports, v) {
			abis = append(abis, strings.ReplaceAll(strings.TrimPrefix(v, "proxy_abi_version_"), "_", "."))
		}
	}
	if len(abis) == 0 {
		return nil, fmt.Errorf("not a proxy-wasm module: it exports none of %s", strings.Join(wasm.ABIVersions, ", "))
	}
	return abis, nil
}

// registryFlags are the credentials and trust of push and inspect.
type registryFlags struct {
	username, password string
	passwordStdin      bool
	insecure           bool
	caFile             string
}

func (f *registryFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.username, "username", "u", "", "registry user (default: the docker config file's credentials for the registry)")
	cmd.Flags().StringVarP(&f.password, "password", "p", "", "registry password (prefer --password-stdin)")
	cmd.Flags().BoolVar(&f.passwordStdin, "password-stdin", false, "read the password from standard input")
	cmd.Flags().BoolVar(&f.insecure, "insecure", false, "allow plain HTTP and unverified TLS (loopback and private addresses need no flag)")
	cmd.Flags().StringVar(&f.caFile, "ca-file", "", "PEM file of the CA that signed the registry's certificate")
}

// client is a registry client with the flags' credentials, else those of
// the docker config file ($DOCKER_CONFIG/config.json or
// ~/.docker/config.json).
func (f *registryFlags) client(stdin io.Reader) (*oci.Client, error) {
	c := &oci.Client{Insecure: f.insecure, Auth: authn.DefaultKeychain}
	if f.passwordStdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && line == "" {
			return nil, fmt.Errorf("--password-stdin: %w", err)
		}
		f.password = strings.TrimRight(line, "\r\n")
	}
	if f.username != "" || f.password != "" {
		if f.username == "" || f.password == "" {
			return nil, errors.New("--username and a password go together")
		}
		c.Auth = oci.Basic{Username: f.username, Password: f.password}
	}
	if f.caFile != "" {
		ca, err := os.ReadFile(f.caFile)
		if err != nil {
			return nil, err
		}
		c.CACert = string(ca)
	}
	return c, nil
}

func newWasmPushCommand() *cobra.Command {
	var layoutDir, to string
	var rf registryFlags
	cmd := &cobra.Command{
		Use:   "push REF [--to REF2] [--oci-layout DIR]",
		Short: "Send an image made by 'portico wasm build' to its registry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			img, err := oci.FromLayout(layoutDir, args[0])
			if err != nil {
				return fmt.Errorf("%w: build it first with portico wasm build -t %s", err, args[0])
			}
			c, err := rf.client(cmd.InOrStdin())
			if err != nil {
				return err
			}
			dest := args[0]
			if to != "" {
				dest = to
			}
			if err := c.Push(cmd.Context(), dest, img); err != nil {
				return err
			}
			d, err := img.Digest()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pushed %s@%s\n", strings.TrimPrefix(dest, oci.Prefix), d)
			return nil
		},
	}
	cmd.Flags().StringVar(&layoutDir, "oci-layout", defaultLayout(), "the OCI layout the image was saved in")
	cmd.Flags().StringVar(&to, "to", "", "push to this reference instead of REF")
	rf.add(cmd)
	return cmd
}
