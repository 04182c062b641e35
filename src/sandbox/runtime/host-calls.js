// Runs inside the isolate (see bootstrap.ts). The one channel for asynchronous host calls (`fetch`
// now, others later). A call goes out as its kind, a JSON description and optional bytes through
// the synchronous host function `hostCall('issue', …)`; nothing comes back then. Answers come in only
// while the driver waits for one (`waitForHostCall`): the host calls the driver ('deliver') with the
// answer as JSON text and bytes, which are turned into objects here. So completions reach user code
// between macrotasks, one at a time, in the order the host decided (live) or read from the journal
// (replay), with the virtual clock set to the time the host gave each delivery. No host object,
// function or promise is ever handed to user code.

// The step's scope: the host's handle for this step's calls (a new one every run, one per replayed step).
let hostCallScope = 0;
let nextHostCall = 0;
let pendingHostCalls = { __proto__: null };
let pendingHostCallCount = 0;
let hostCallWaiter = null;

function beginHostCalls(scope) {
  hostCallScope = scope;
  nextHostCall = 0;
  pendingHostCalls = { __proto__: null };
  pendingHostCallCount = 0;
  hostCallWaiter = null;
}

/** The step is over: answers still outstanding are dropped (the host cancels their calls). */
function endHostCalls() {
  pendingHostCalls = { __proto__: null };
  pendingHostCallCount = 0;
  hostCallWaiter = null;
  hostCall('end', hostCallScope);
}

/**
 * Starts a host call. `settle(answer, bytes)` is called once with the parsed answer (plain data) and
 * an ArrayBuffer or null, unless the call is cancelled first; the returned function cancels it.
 */
function startHostCall(kind, descriptionJson, bytes, settle) {
  const n = nextHostCall++;
  // Throws (into the caller) when the host refuses the call outright: the step is replaying and its
  // code asks for a call the journal does not have.
  hostCall('issue', hostCallScope, n, kind, descriptionJson, bytes);
  pendingHostCalls[n] = settle;
  pendingHostCallCount++;
  return function cancelHostCall() {
    if (pendingHostCalls[n] === undefined) return;
    delete pendingHostCalls[n];
    pendingHostCallCount--;
    hostCall('cancel', hostCallScope, n);
  };
}

/** Resolves with true when an answer was delivered, false when the next timer (due at `nextDue`) comes first. */
function waitForHostCall(nextDue) {
  return new Promise((resolve) => {
    hostCallWaiter = resolve;
    hostCall('wait', hostCallScope, virtualNow, nextDue);
  });
}

/** The host's answer to the driver's wait: 'timeout', or [call, at, answerJson] as JSON text. */
function deliverHostCall(scope, message, bytes) {
  if (scope !== hostCallScope || hostCallWaiter === null) return 'null';
  const wake = hostCallWaiter;
  hostCallWaiter = null;
  if (message === 'timeout') {
    wake(false);
    return 'null';
  }
  const delivery = jsonParse(message);
  advanceClockTo(delivery[1]);
  const settle = pendingHostCalls[delivery[0]];
  if (settle !== undefined) {
    delete pendingHostCalls[delivery[0]];
    pendingHostCallCount--;
    try {
      settle(delivery[2], bytes instanceof ArrayBuffer ? bytes : null);
    } catch (error) {
      reportUncaught(error);
    }
  }
  wake(true);
  return 'null';
}
