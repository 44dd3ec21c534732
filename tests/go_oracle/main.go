// Command go_oracle records observations in a client_golang Histogram and prints what its
// Write() returns: the reference the Python suite compares its native histograms against
// (tests/client_golang.py builds and runs it).
//
// It reads one JSON request on standard input:
//
//	{
//	  "factor": 1.1,                   // NativeHistogramBucketFactor (<= 1: no native buckets)
//	  "zero_threshold": 2.938735877055719e-39, // NativeHistogramZeroThreshold (0: default, < 0: none)
//	  "max_buckets": 160,              // NativeHistogramMaxBucketNumber (0: no limit)
//	  "min_reset_duration_ns": 0,      // NativeHistogramMinResetDuration
//	  "max_zero_threshold": 0,         // NativeHistogramMaxZeroThreshold
//	  "classic_buckets": [0.1, 1],     // Buckets (empty or absent: none with native buckets)
//	  "observations": [1, "+Inf", "0x1p-1074", "0.1"],
//	  "observations_f64le": "base64...", // more observations, as little-endian IEEE 754 doubles
//	  "separately": false              // true: one fresh histogram per observation
//	}
//
// Each element of "observations" is a JSON number or a string that strconv.ParseFloat reads
// exactly ("+Inf", "-Inf", "NaN", Python's repr() or float.hex()). The values of "observations"
// are observed first, then those of "observations_f64le", in order, from one goroutine.
//
// It writes the resulting io.prometheus.client.Metric to standard output as raw protobuf bytes
// (not length-delimited), and exits with status 0; on a bad request it prints the reason on
// standard error and exits with status 2. With "separately", each observation goes into a
// histogram of its own, and the Metric of each, in order, is written length-delimited (a
// varint length before each message), as in the protobuf exposition format.
package main

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/golang/protobuf/proto"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

type request struct {
	Factor             float64           `json:"factor"`
	ZeroThreshold      float64           `json:"zero_threshold"`
	MaxBuckets         uint32            `json:"max_buckets"`
	MinResetDurationNs int64             `json:"min_reset_duration_ns"`
	MaxZeroThreshold   float64           `json:"max_zero_threshold"`
	ClassicBuckets     []float64         `json:"classic_buckets"`
	Observations       []json.RawMessage `json:"observations"`
	ObservationsF64LE  string            `json:"observations_f64le"`
	Separately         bool              `json:"separately"`
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "go_oracle: "+format+"\n", args...)
	os.Exit(2)
}

// parseValue reads one element of "observations": a JSON number or a string for ParseFloat.
func parseValue(raw json.RawMessage) (float64, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		// Not a string: a JSON number, read with the same exact conversion.
		s = string(raw)
	}
	return strconv.ParseFloat(s, 64)
}

func main() {
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("reading standard input: %v", err)
	}
	var req request
	if err := json.Unmarshal(input, &req); err != nil {
		fail("bad request: %v", err)
	}
	values := make([]float64, 0, len(req.Observations))
	for i, raw := range req.Observations {
		v, err := parseValue(raw)
		if err != nil {
			fail("observation %d (%s): %v", i, raw, err)
		}
		values = append(values, v)
	}
	packed, err := base64.StdEncoding.DecodeString(req.ObservationsF64LE)
	if err != nil {
		fail("observations_f64le: %v", err)
	}
	if len(packed)%8 != 0 {
		fail("observations_f64le: %d bytes is not a whole number of doubles", len(packed))
	}
	for i := 0; i < len(packed); i += 8 {
		values = append(values, math.Float64frombits(binary.LittleEndian.Uint64(packed[i:i+8])))
	}

	var out []byte
	if req.Separately {
		for _, v := range values {
			m := record(&req, []float64{v})
			out = binary.AppendUvarint(out, uint64(len(m)))
			out = append(out, m...)
		}
	} else {
		out = record(&req, values)
	}
	if _, err := os.Stdout.Write(out); err != nil {
		fail("writing standard output: %v", err)
	}
}

// record observes values, in order, in a new histogram and returns its Write() as protobuf.
func record(req *request, values []float64) []byte {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:                            "oracle",
		Help:                            "client_golang's histogram, as the oracle of the tests.",
		Buckets:                         req.ClassicBuckets,
		NativeHistogramBucketFactor:     req.Factor,
		NativeHistogramZeroThreshold:    req.ZeroThreshold,
		NativeHistogramMaxBucketNumber:  req.MaxBuckets,
		NativeHistogramMinResetDuration: time.Duration(req.MinResetDurationNs),
		NativeHistogramMaxZeroThreshold: req.MaxZeroThreshold,
	})
	for _, v := range values {
		h.Observe(v)
	}
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		fail("Write: %v", err)
	}
	out, err := proto.Marshal(&m)
	if err != nil {
		fail("marshal: %v", err)
	}
	return out
}
