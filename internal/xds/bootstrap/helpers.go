package bootstrap

import (
	"strconv"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
)

type (
	accesslogV3    = accesslogv3.AccessLog
	accesslogTyped = accesslogv3.AccessLog_TypedConfig
)

func itoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
