package smart

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vedetta-dc/vedetta/internal/testpeer"
	"github.com/vedetta-dc/vedetta/model"
	"github.com/vedetta-dc/vedetta/rules/rulestest"
)

const (
	ata  = "smartctl_exporter__WDC_WD20EFRX-68EUZN0_17"     // a healthy SATA disk
	nvme = "smartctl_exporter__INTEL_SSDPE2KX080T8_1"       // a healthy NVMe drive
	sas  = "smartctl_exporter__HITACHI_H109060SESUN600G_10" // a healthy SAS disk
	sick = "scrutiny__smart-fail2"                          // a failing SATA disk, as recorded
)

// smartCases are configs/rules.d/smart.yaml's rules on real smartctl
// JSON, changed the way the failure would change it.
var smartCases = []struct {
	fixture string
	rulestest.Case
}{
	{sick, rulestest.Case{Rule: "DiskSmartFailed", Resolve: rulestest.Set("disk_smart_passed", 1),
		Want:         "/dev/sdx (Hitachi HDS721050DLE630, serial MSK423Y20S3HBC) on disks fails its SMART self-assessment: replace it",
		WantResolved: "passes its SMART self-assessment again"}},
	{ata, rulestest.Case{Rule: "DiskAttributeFailing", Fire: rulestest.Set("disk_attributes_failing_now", 2),
		Want: "/dev/sdx (WDC WD20EFRX-68EUZN0, serial REDACTED) on disks has 2 SMART attribute(s) at or below threshold"}},
	{ata, rulestest.Case{Rule: "DiskReallocatedSectors", Fire: rulestest.Set("disk_reallocated_sectors", 24),
		Want: "has reallocated 24 sectors"}},
	{ata, rulestest.Case{Rule: "DiskPendingSectors", Fire: rulestest.Set("disk_pending_sectors", 8),
		Want: "has 8 unreadable sectors pending reallocation"}},
	{ata, rulestest.Case{Rule: "DiskOfflineUncorrectable", Fire: rulestest.Set("disk_offline_uncorrectable", 3),
		Want: "has 3 offline-uncorrectable sectors"}},
	{sas, rulestest.Case{Rule: "DiskGrownDefects", Fire: rulestest.Set("disk_grown_defects", 5),
		Want: "/dev/sdx (HITACHI H109060SESUN600G, serial REDACTED) on disks has 5 grown defects"}},
	{nvme, rulestest.Case{Rule: "NVMeCriticalWarning", Fire: rulestest.Set("disk_nvme_critical_warning", 4),
		Want: "reports NVMe critical warning 4"}},
	{nvme, rulestest.Case{Rule: "NVMeMediaErrors", Fire: rulestest.Set("disk_media_errors", 12),
		Want: "/dev/sdx (INTEL SSDPE2KX080T8, serial REDACTED) on disks has 12 media errors"}},
	{nvme, rulestest.Case{Rule: "NVMeWornOut", Fire: rulestest.Set("disk_percentage_used", 93),
		Want: "has used 93% of its rated endurance"}},
	{ata, rulestest.Case{Rule: "DiskCRCErrorsRising", Fire: rulestest.Ramp("disk_crc_errors", 2), Rounds: 4, HoldToResolve: true,
		Want: "/dev/sdx on disks: 6 new interface CRC errors in an hour"}},
	{ata, rulestest.Case{Rule: "DiskTooHot", Fire: rulestest.Set("disk_temperature_celsius", 63),
		Want: "/dev/sdx (WDC WD20EFRX-68EUZN0) on disks is at 63 °C"}},
	{ata, rulestest.Case{Rule: "DiskUnreadable", Fire: rulestest.Set("disk_readable", 0),
		Want: "smartctl cannot read /dev/sdx on disks", WantResolved: "smartctl reads /dev/sdx on disks again"}},
}

func parseFixture(t *testing.T, name string) []model.Sample {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testpeer.SharedTestdata(t, "smart"), name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	code := 0
	if _, after, ok := strings.Cut(string(b), `"exit_status":`); ok {
		fmt.Sscan(strings.TrimSpace(after), &code)
	}
	ss, err := Parse(b, code, "/dev/sdx")
	if err != nil {
		t.Fatal(err)
	}
	return ss
}

// TestShippedRuleSummaries: every row of smartCases.
func TestShippedRuleSummaries(t *testing.T) {
	rs := rulestest.Shipped(t, "smart.yaml")
	for _, c := range smartCases {
		c.Source = c.fixture + ".json"
		t.Run(c.Rule, func(t *testing.T) { rulestest.Run(t, rs, "disks", parseFixture(t, c.fixture), c.Case) })
	}
}
