package smart

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/vedetta-dc/vedetta/model"
)

type smartctlInfo struct {
	Version    []int `json:"version"`
	ExitStatus *int  `json:"exit_status"`
	Messages   []struct {
		String   string `json:"string"`
		Severity string `json:"severity"`
	} `json:"messages"`
}

func (s smartctlInfo) message() string {
	var ms []string
	for _, m := range s.Messages {
		ms = append(ms, m.String)
	}
	if len(ms) == 0 {
		return "no message"
	}
	return strings.Join(ms, "; ")
}

type rawValue struct {
	Value *float64 `json:"value"`
}

// report is the part of `smartctl --json` output the collector reads.
// Unknown fields are ignored: smartctl adds some in every release.
type report struct {
	Smartctl smartctlInfo `json:"smartctl"`
	Device   struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		Protocol string `json:"protocol"`
	} `json:"device"`
	ModelName     string `json:"model_name"`
	SCSIModelName string `json:"scsi_model_name"`
	SCSIVendor    string `json:"scsi_vendor"`
	SCSIProduct   string `json:"scsi_product"`
	SerialNumber  string `json:"serial_number"`
	SmartStatus   *struct {
		Passed *bool `json:"passed"`
	} `json:"smart_status"`
	Temperature *struct {
		Current *float64 `json:"current"`
	} `json:"temperature"`
	PowerOnTime *struct {
		Hours *float64 `json:"hours"`
	} `json:"power_on_time"`
	ATAAttributes *struct {
		Table []struct {
			ID         int      `json:"id"`
			Name       string   `json:"name"`
			WhenFailed string   `json:"when_failed"`
			Raw        rawValue `json:"raw"`
		} `json:"table"`
	} `json:"ata_smart_attributes"`
	ATAErrorLog *struct {
		Summary *struct {
			Count *float64 `json:"count"`
		} `json:"summary"`
	} `json:"ata_smart_error_log"`
	NVMe *struct {
		CriticalWarning  *float64 `json:"critical_warning"`
		MediaErrors      *float64 `json:"media_errors"`
		PercentageUsed   *float64 `json:"percentage_used"`
		AvailableSpare   *float64 `json:"available_spare"`
		SpareThreshold   *float64 `json:"available_spare_threshold"`
		NumErrLogEntries *float64 `json:"num_err_log_entries"`
		UnsafeShutdowns  *float64 `json:"unsafe_shutdowns"`
	} `json:"nvme_smart_health_information_log"`
	SCSIGrownDefects *float64 `json:"scsi_grown_defect_list"`
	SCSIErrorLog     map[string]struct {
		TotalUncorrected *float64 `json:"total_uncorrected_errors"`
	} `json:"scsi_error_counter_log"`
}

func (r *report) model() string {
	switch {
	case r.ModelName != "":
		return r.ModelName
	case r.SCSIModelName != "":
		return r.SCSIModelName
	default:
		return strings.TrimSpace(r.SCSIVendor + " " + r.SCSIProduct)
	}
}

// ATA attribute ids the collector exports as named metrics.
var ataMetrics = map[int]string{
	5:   "disk_reallocated_sectors",
	197: "disk_pending_sectors",
	198: "disk_offline_uncorrectable",
	199: "disk_crc_errors",
}

// Parse turns one `smartctl --json=c` output and its exit code into samples
// labelled {device, model, serial}. It always emits disk_readable and the
// exit status, even for output that is not JSON at all; the error says why
// the device could not be read.
func Parse(out []byte, exitCode int, device string) ([]model.Sample, error) {
	var samples []model.Sample
	var r report
	jerr := json.Unmarshal(out, &r)
	labels := model.L("device", device)
	if jerr == nil {
		labels = model.L("device", device, "model", r.model(), "serial", r.SerialNumber)
	}
	add := func(name string, v float64, extra ...string) {
		ls := labels
		for i := 0; i+1 < len(extra); i += 2 {
			ls = ls.With(extra[i], extra[i+1])
		}
		samples = append(samples, model.Sample{Name: name, Labels: ls, Value: v})
	}
	addp := func(name string, v *float64, scale float64) {
		if v != nil {
			add(name, *v*scale)
		}
	}
	exitStatus := func() {
		add("disk_smartctl_exit_status", float64(exitCode))
		for bit, flag := range exitBits {
			add("disk_smartctl_exit_flag", float64(exitCode>>bit&1), "flag", flag)
		}
	}
	readable := jerr == nil && exitCode >= 0 && exitCode&3 == 0
	if !readable {
		add("disk_readable", 0)
		if exitCode >= 0 {
			exitStatus()
		}
		if jerr != nil {
			return samples, fmt.Errorf("%s: smartctl exit %d, output is not smartctl JSON: %v", device, exitCode, jerr)
		}
		return samples, fmt.Errorf("%s: cannot read (smartctl exit %d: %s): %s", device, exitCode, describeExit(exitCode), r.Smartctl.message())
	}
	add("disk_readable", 1)
	exitStatus()
	if r.SmartStatus != nil && r.SmartStatus.Passed != nil {
		add("disk_smart_passed", b2f(*r.SmartStatus.Passed))
	}
	if r.Temperature != nil {
		addp("disk_temperature_celsius", r.Temperature.Current, 1)
	}
	if r.PowerOnTime != nil {
		addp("disk_power_on_hours", r.PowerOnTime.Hours, 1)
	}
	if a := r.ATAAttributes; a != nil {
		var now, past float64
		for _, at := range a.Table {
			if name, ok := ataMetrics[at.ID]; ok && at.Raw.Value != nil {
				// The raw value is 48 bits; some vendors pack extra data in
				// the upper 16 bits of the 64-bit number smartctl prints.
				add(name, float64(uint64(*at.Raw.Value)&0xffff_ffff_ffff))
			}
			switch at.WhenFailed {
			case "now":
				now++
			case "past":
				past++
			}
		}
		add("disk_attributes_failing_now", now)
		add("disk_attributes_failed_past", past)
	}
	if l := r.ATAErrorLog; l != nil && l.Summary != nil {
		addp("disk_error_log_entries", l.Summary.Count, 1)
	}
	if n := r.NVMe; n != nil {
		addp("disk_nvme_critical_warning", n.CriticalWarning, 1)
		addp("disk_media_errors", n.MediaErrors, 1)
		addp("disk_percentage_used", n.PercentageUsed, 1)
		addp("disk_available_spare_ratio", n.AvailableSpare, 0.01)
		addp("disk_available_spare_threshold_ratio", n.SpareThreshold, 0.01)
		addp("disk_error_log_entries", n.NumErrLogEntries, 1)
		addp("disk_unsafe_shutdowns", n.UnsafeShutdowns, 1)
	}
	addp("disk_grown_defects", r.SCSIGrownDefects, 1)
	if len(r.SCSIErrorLog) > 0 {
		var sum float64
		seen := false
		for _, op := range r.SCSIErrorLog {
			if op.TotalUncorrected != nil {
				sum += *op.TotalUncorrected
				seen = true
			}
		}
		if seen && !math.IsInf(sum, 0) { // two counters near 1e308 from a confused device
			add("disk_uncorrected_errors", sum)
		}
	}
	return samples, nil
}

func describeExit(code int) string {
	var fs []string
	for bit, flag := range exitBits {
		if code>>bit&1 == 1 {
			fs = append(fs, flag)
		}
	}
	if len(fs) == 0 {
		return "ok"
	}
	return strings.Join(fs, ",")
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
