// A session's steps replay on whichever node serves it next, and local-time `Date` methods and `Intl`
// inside the sandbox follow the process's time zone. So every node runs in UTC, whatever the host's
// zone. main.ts imports this first, before any other module can read the clock; isolates created
// later see the change (Node resets V8's time zone cache when TZ is assigned).
process.env.TZ = 'UTC';
