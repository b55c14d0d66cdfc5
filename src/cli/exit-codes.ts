/** The exit codes of `quorum`, one table for every command (see README.md). */
export const ExitCode = {
  ok: 0,
  /** A property is violated, or a complete run never reached a witness its model must reach. */
  violation: 1,
  /** Bad usage or bad input, decided before anything runs. */
  usage: 2,
  /** A limit or Ctrl-C stopped the run before it was complete. */
  incomplete: 3,
  /** A handler or the checker threw: a bug, not a finding. */
  internal: 4,
  /** A second Ctrl-C abandoned the run without a report (128 + SIGINT, as shells report it). */
  abandoned: 130,
} as const
