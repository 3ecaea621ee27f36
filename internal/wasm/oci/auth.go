package oci

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/docker/cli/cli/config/configfile"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// DockerConfig is a keychain over the content of a docker config file
// (a kubernetes.io/dockerconfigjson Secret's .dockerconfigjson): the
// credentials of the entry for the image's registry host (Docker Hub's
// key is https://index.docker.io/v1/), anonymous when there is none.
type DockerConfig []byte

// Resolve implements authn.Keychain.
func (d DockerConfig) Resolve(target authn.Resource) (authn.Authenticator, error) {
	cf, err := d.parse()
	if err != nil {
		return nil, err
	}
	key := target.RegistryStr()
	if key == name.DefaultRegistry {
		key = authn.DefaultAuthKey
	}
	// No credential store: a Secret's config is only what it says.
	cf.CredentialsStore = ""
	cf.CredentialHelpers = nil
	ac, err := cf.GetAuthConfig(key)
	if err != nil {
		return nil, fmt.Errorf("the pull secret's entry for %s cannot be read: %w", key, err)
	}
	if ac.Username == "" && ac.Password == "" && ac.Auth == "" && ac.IdentityToken == "" && ac.RegistryToken == "" {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{
		Username: ac.Username, Password: ac.Password, Auth: ac.Auth,
		IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken,
	}), nil
}

// Validate reports a config that cannot be parsed, without quoting it.
func (d DockerConfig) Validate() error {
	_, err := d.parse()
	return err
}

func (d DockerConfig) parse() (*configfile.ConfigFile, error) {
	if len(bytes.TrimSpace(d)) == 0 || bytes.Equal(bytes.TrimSpace(d), []byte("null")) {
		return nil, errors.New("the pull secret's .dockerconfigjson is empty")
	}
	cf := configfile.New("")
	if err := cf.LoadFromReader(bytes.NewReader(d)); err != nil {
		// The decoder's errors name offsets and types, never the content.
		return nil, fmt.Errorf("the pull secret's .dockerconfigjson is not a docker config: %w", err)
	}
	return cf, nil
}

// Basic is a keychain that answers every registry with one user and
// password (the --username and --password of portico wasm).
type Basic struct{ Username, Password string }

// Resolve implements authn.Keychain.
func (b Basic) Resolve(authn.Resource) (authn.Authenticator, error) {
	return &authn.Basic{Username: b.Username, Password: b.Password}, nil
}
