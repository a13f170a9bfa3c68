package main

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// Throughput on a shared 2-core machine moves with whatever else runs.
// CPU time per request spent in Caddy moves much less, and the busy time
// of the rest of the machine tells how disturbed a run was; both come
// from /proc, so on other systems they are simply left out.

// clockTick is USER_HZ, the unit of /proc CPU times: 100 on every Linux
// architecture Go supports.
const clockTick = 10 * time.Millisecond

// cpuSample is a snapshot of CPU times, in clock ticks.
type cpuSample struct {
	caddy, self uint64 // user+system time of the Caddy process, and ours
	busy, total uint64 // whole machine, from /proc/stat
	ok          bool
}

func sampleCPU(caddyPID int) cpuSample {
	var s cpuSample
	var err1, err2, err3 error
	s.caddy, err1 = processTicks(strconv.Itoa(caddyPID))
	s.self, err2 = processTicks("self")
	s.busy, s.total, err3 = machineTicks()
	s.ok = err1 == nil && err2 == nil && err3 == nil
	return s
}

// processTicks reads utime+stime from /proc/<pid>/stat. The fields are
// counted after the command name's closing parenthesis, since the name
// itself may hold spaces.
func processTicks(pid string) (uint64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, strconv.ErrSyntax
	}
	utime, err := strconv.ParseUint(fields[11], 10, 64)
	if err != nil {
		return 0, err
	}
	stime, err := strconv.ParseUint(fields[12], 10, 64)
	return utime + stime, err
}

// machineTicks reads the aggregate "cpu" line of /proc/stat: user nice
// system idle iowait irq softirq steal (guest time is already in user).
func machineTicks() (busy, total uint64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		return 0, 0, strconv.ErrSyntax
	}
	var v [8]uint64
	for i := range v {
		if v[i], err = strconv.ParseUint(fields[i+1], 10, 64); err != nil {
			return 0, 0, err
		}
		total += v[i]
	}
	idle := v[3] + v[4]
	return total - idle, total, nil
}

// cpuUsage is what a run cost in CPU, over its measured part.
type cpuUsage struct {
	CaddyPerReq   time.Duration `json:"caddy_cpu_per_req_ns"`
	LoadgenPerReq time.Duration `json:"loadgen_cpu_per_req_ns"`
	// OtherPct is the machine's busy time not spent in Caddy or in this
	// tool, as a percentage of all cores: other processes, plus kernel
	// interrupt work not charged to any process.
	OtherPct float64 `json:"other_cpu_pct"`
}

func cpuBetween(a, b cpuSample, requests int) (cpuUsage, bool) {
	if !a.ok || !b.ok || requests == 0 || b.total <= a.total {
		return cpuUsage{}, false
	}
	caddy, self := b.caddy-a.caddy, b.self-a.self
	busy, total := b.busy-a.busy, b.total-a.total
	u := cpuUsage{
		CaddyPerReq:   time.Duration(caddy) * clockTick / time.Duration(requests),
		LoadgenPerReq: time.Duration(self) * clockTick / time.Duration(requests),
	}
	if other := int64(busy) - int64(caddy+self); other > 0 {
		u.OtherPct = 100 * float64(other) / float64(total)
	}
	return u, true
}
