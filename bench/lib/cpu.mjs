// CPU time of processes, for "CPU per call" figures: on a shared machine a process's CPU time per
// operation moves far less with the load than operations per wall-clock second do.
import { readFileSync } from 'node:fs'

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ: 100 on Linux x86 and arm). */
const TICKS_PER_SECOND = 100

/** CPU µs (user + system) used so far by process `pid`, from /proc (10 ms resolution); undefined off Linux. */
export function cpuMicrosOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ticks = Number(fields[11]) + Number(fields[12]) // utime, stime (fields 14 and 15 of the line)
    return (ticks * 1e6) / TICKS_PER_SECOND
  } catch {
    return undefined
  }
}

/** This process's CPU µs (user + system) so far, to the microsecond. */
export function ownCpuMicros() {
  const { user, system } = process.cpuUsage()
  return user + system
}
