// The sandbox phone: you are the WhatsApp user. The page makes and answers WebRTC calls with
// the microphone; the sandbox relays the SDP to and from the bot (127.0.0.1 candidates only)
// over the WebSocket at /phone/ws. Standard APIs only; no build step. Protocol: hub.py.
"use strict";

const ENDED = new Set(["rejected", "terminated", "timed_out"]);
const SETTING_UP = new Set(["dialing", "calling", "connecting"]);
const GATHER_MS = 3000; // send what ICE gathered by then, if gathering has not finished
const LOG_ROWS = 200;
const KEYS = "0123456789*#";
// 360dialog's keypresses: 500 ms tones, 100 ms gaps. Chromium sends a telephone-event/8000 tone
// shorter than asked beside Opus (it counts 8 kHz ticks in 48 kHz time), still one key each.
const TONE_MS = 500;
const GAP_MS = 100;
const ANNOUNCEMENT_HZ = 1200; // the sandbox's consent announcement, played here for you too

const $ = (id) => document.getElementById(id);
const view = {
  who: $("who"), link: $("link"), state: $("state"), timer: $("timer"), problem: $("problem"),
  call: $("call"), answer: $("answer"), decline: $("decline"), hangup: $("hangup"),
  level: $("level"), heard: $("heard"), remote: $("remote"),
  messages: $("messages"), noMessages: $("no-messages"), log: $("log").tBodies[0],
  keypad: $("keypad"), pressed: $("pressed"), recorded: $("recorded"),
  recordings: $("recordings"),
  keys: Array.from(document.querySelectorAll("#keypad button[data-key]")),
};
const KEYPAD_HINT = view.pressed.textContent.replace(/\s+/g, " ");

// What a test (or a curious developer in the console) can read.
const stats = { state: "idle", callId: null, heardHz: null, level: 0, connection: "new",
  socket: "connecting", errors: [], keypad: false, pressed: "", announcement: null,
  announced: [], recordings: [], noBot: null };
window.phoneStats = stats;

const phone = {
  socket: null,
  pc: null,
  sender: null, // our audio's RTCRtpSender: its .dtmf presses keys
  stream: null,
  callId: null,
  ringing: null, // the business's call waiting for Answer or Decline: {call_id, sdp}
  placing: false, // a call of ours is being set up, its id not yet known
  offered: false, // ... and its offer went to the sandbox
  hangUpWhenPlaced: false,
  connectedAt: null,
  audio: null, // {context, analyser, source}
};

// -- the sandbox's socket ------------------------------------------------------------------

function connect() {
  const url = new URL("/phone/ws", location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(url);
  phone.socket = socket;
  socket.addEventListener("open", () => setLink("connected"));
  socket.addEventListener("message", (event) => receive(JSON.parse(event.data)));
  socket.addEventListener("close", () => {
    setLink("disconnected, retrying");
    if (phone.callId || phone.placing) endCall("The sandbox went away");
    setTimeout(connect, 1000);
  });
}

function setLink(text) {
  stats.socket = text;
  view.link.textContent = `Sandbox: ${text}`;
}

function send(message) {
  if (!phone.socket || phone.socket.readyState !== WebSocket.OPEN) {
    throw new Error("not connected to the sandbox");
  }
  phone.socket.send(JSON.stringify(message));
}

function receive(message) {
  switch (message.type) {
    case "hello": // first on every (re)connection, then the recent log and messages again
      view.log.replaceChildren();
      view.messages.replaceChildren();
      view.recordings.replaceChildren();
      stats.recordings = [];
      view.noMessages.hidden = false;
      view.who.textContent = `You are WhatsApp user +${message.wa_id} (${message.name}). ` +
        `The business is +${message.business}.`;
      break;
    case "call": onCall(message); break;
    case "message": onMessage(message); break;
    case "log": onLog(message); break;
    case "announcement": onAnnouncement(message); break;
    case "recording": onRecording(message); break;
    case "no_bot": onNoBot(message); break;
    case "error": // a request of this page failed; if it set up a call, the call is off
      if (SETTING_UP.has(stats.state)) {
        fail(new Error(message.message));
        break;
      }
      if (stats.state === "ending") endCall("Call ended");
      showProblem(message.message);
      break;
  }
}

// -- calls ---------------------------------------------------------------------------------

function onCall(call) {
  if (call.direction === "incoming" && call.state === "ringing" && call.sdp) {
    if (phone.callId || phone.placing || phone.ringing) return; // busy: it rings out
    phone.ringing = call;
    setState("incoming", "The business is calling you");
    view.answer.focus();
    return;
  }
  if (phone.ringing && phone.ringing.call_id === call.call_id) {
    if (call.state !== "ringing") { // hung up, timed out, or picked up in another tab
      phone.ringing = null;
      const words = { timed_out: "Missed call", terminated: "The business hung up",
        rejected: "Declined" };
      setState("idle", words[call.state] || "Answered elsewhere");
    }
    return;
  }
  if (call.direction === "outgoing" && phone.placing && !phone.callId) {
    phone.callId = call.call_id;
    stats.callId = call.call_id;
    phone.placing = false;
    if (phone.hangUpWhenPlaced) return hangUp();
  }
  if (call.call_id !== phone.callId) return; // another tab's call
  if (stats.state === "ending" && !ENDED.has(call.state)) return; // our hang-up is on its way
  if (call.sdp && phone.pc && phone.pc.signalingState === "have-local-offer") {
    phone.pc.setRemoteDescription({ type: "answer", sdp: call.sdp }).then(updateKeypad, fail);
  }
  if (call.state === "ringing") setState("ringing", "Ringing…");
  else if (call.state === "pre_accepted") setState("connecting", "Connecting…");
  else if (call.state === "accepted") inCall();
  else if (ENDED.has(call.state)) endCall(summary(call));
}

function onNoBot(message) {
  // No bot got our call (no webhook URL, nothing listening there, an error answer): the
  // sandbox ends it, and the page says why instead of ringing on.
  if (message.call_id !== phone.callId) return;
  stats.noBot = message.message;
  endCall("No bot answered");
  showProblem(message.message);
}

function summary(call) {
  const words = { rejected: "Call declined", terminated: "Call ended", timed_out: "No answer" };
  const text = words[call.state] || "Call ended";
  return call.duration === null || call.duration === undefined
    ? text : `${text} after ${clock(call.duration)}`;
}

async function placeCall(request) {
  if (phone.callId || phone.placing || phone.ringing) return;
  hideProblem();
  phone.placing = true;
  phone.offered = false;
  phone.hangUpWhenPlaced = false;
  setState("dialing", "Getting the microphone…");
  try {
    const pc = await newPeer();
    if (!phone.placing) return closeMedia(); // cancelled while the microphone opened
    const [track] = phone.stream.getAudioTracks();
    const transceiver = pc.addTransceiver(track, { direction: "sendrecv", streams: [phone.stream] });
    phone.sender = transceiver.sender;
    preferCodecs(transceiver);
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    if (!phone.placing || phone.pc !== pc) return; // cancelled meanwhile
    send({ ...request, sdp: pc.localDescription.sdp });
    phone.offered = true;
    setState("calling", "Calling the business…");
  } catch (error) {
    fail(error);
  }
}

async function answerCall() {
  const ringing = phone.ringing;
  if (!ringing) return;
  phone.ringing = null;
  phone.callId = ringing.call_id;
  stats.callId = ringing.call_id;
  hideProblem();
  setState("connecting", "Answering…");
  try {
    const pc = await newPeer();
    await pc.setRemoteDescription({ type: "offer", sdp: ringing.sdp });
    phone.sender = pc.addTrack(phone.stream.getAudioTracks()[0], phone.stream);
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    send({ type: "answer", call_id: ringing.call_id, sdp: pc.localDescription.sdp });
  } catch (error) {
    fail(error);
  }
}

function declineCall() {
  const ringing = phone.ringing;
  if (!ringing) return;
  phone.ringing = null;
  send({ type: "decline", call_id: ringing.call_id });
  setState("idle", "You declined the call");
}

function hangUp() {
  if (phone.callId) {
    send({ type: "hangup", call_id: phone.callId });
    closeMedia();
    setState("ending", "Hanging up…");
  } else if (phone.placing && phone.offered) {
    phone.hangUpWhenPlaced = true; // once the sandbox names the call
    closeMedia();
    setState("ending", "Hanging up…");
  } else if (phone.placing) {
    endCall("Call cancelled");
  }
}

function inCall() {
  if (phone.connectedAt === null) phone.connectedAt = Date.now();
  setState("in-call", "In call with the business");
}

function endCall(text) {
  closeMedia();
  view.recorded.hidden = true;
  stats.announcement = null;
  phone.callId = null;
  phone.placing = false;
  phone.offered = false;
  phone.connectedAt = null;
  setState("idle", text);
}

function fail(error) {
  const text = error && error.message ? error.message : String(error);
  if (phone.callId) {
    try { send({ type: "hangup", call_id: phone.callId }); } catch (ignored) { /* offline */ }
  }
  endCall("The call failed");
  showProblem(text);
}

// -- media ---------------------------------------------------------------------------------

async function newPeer() {
  audioContext(); // made in the click, where browsers allow audio to start
  phone.stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
  const pc = new RTCPeerConnection({ iceServers: [] });
  phone.pc = pc;
  pc.addEventListener("track", (event) => {
    listen(event.streams[0] || new MediaStream([event.track]));
  });
  pc.addEventListener("signalingstatechange", updateKeypad);
  pc.addEventListener("connectionstatechange", () => {
    stats.connection = pc.connectionState;
    updateKeypad();
    if (pc.connectionState === "failed" && phone.pc === pc) {
      fail(new Error("audio could not connect on 127.0.0.1 (ICE or DTLS failed)"));
    }
  });
  return pc;
}

function preferCodecs(transceiver) {
  // WhatsApp speaks Opus, with keypresses as telephone-event/8000 (RFC 4733); offer just
  // those, as Meta does, where the browser lets us.
  if (!transceiver.setCodecPreferences || !RTCRtpReceiver.getCapabilities) return;
  const all = RTCRtpReceiver.getCapabilities("audio").codecs;
  const opus = all.filter((codec) => codec.mimeType.toLowerCase() === "audio/opus");
  const keys = all.filter((codec) => codec.mimeType.toLowerCase() === "audio/telephone-event"
    && codec.clockRate === 8000);
  if (opus.length) transceiver.setCodecPreferences([...opus, ...keys]);
}

function gathered(pc) {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    const timer = setTimeout(resolve, GATHER_MS);
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

function audioContext() {
  if (!phone.audio) {
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    analyser.fftSize = 16384;
    analyser.smoothingTimeConstant = 0;
    const mute = context.createGain();
    mute.gain.value = 0; // the <audio> element plays the call; the analyser only listens
    analyser.connect(mute).connect(context.destination);
    phone.audio = { context, analyser, source: null };
    setInterval(measure, 200);
  }
  phone.audio.context.resume();
  return phone.audio;
}

function listen(stream) {
  view.remote.srcObject = stream; // Chromium feeds WebAudio a remote stream only while it plays
  view.remote.play().catch(() => {});
  const audio = audioContext();
  if (audio.source) audio.source.disconnect();
  audio.source = audio.context.createMediaStreamSource(stream);
  audio.source.connect(audio.analyser);
}

function measure() {
  const { context, analyser, source } = phone.audio;
  if (!source) return;
  const samples = new Float32Array(analyser.fftSize);
  analyser.getFloatTimeDomainData(samples);
  const rms = Math.sqrt(samples.reduce((sum, x) => sum + x * x, 0) / samples.length);
  const bins = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(bins);
  let peak = 1;
  for (let i = 2; i < bins.length - 1; i++) if (bins[i] > bins[peak]) peak = i;
  const [a, b, c] = [bins[peak - 1], bins[peak], bins[peak + 1]];
  const shift = a - 2 * b + c === 0 ? 0 : (0.5 * (a - c)) / (a - 2 * b + c);
  const hz = ((peak + shift) * context.sampleRate) / analyser.fftSize;
  const audible = rms > 0.005;
  stats.level = rms;
  stats.heardHz = audible ? Math.round(hz * 10) / 10 : null;
  view.level.value = Math.min(1, rms * 4);
  view.level.textContent = audible ? "sound" : "silence";
  view.heard.textContent = audible ? `sound, loudest near ${Math.round(hz)} Hz` : "silence";
}

// -- recording: the consent announcement, then a link to the file once the call ended -------

function onAnnouncement(message) {
  if (message.call_id !== phone.callId) return;
  const text = `This call is being recorded: ${message.purpose}`;
  stats.announcement = message.purpose;
  stats.announced.push(message.purpose);
  view.state.textContent = text;
  view.recorded.textContent = `Recorded: ${message.purpose}`;
  view.recorded.hidden = false;
  beep(message.seconds);
  setTimeout(() => {
    if (stats.announcement === message.purpose) stats.announcement = null;
    if (phone.callId === message.call_id && stats.state === "in-call") inCall();
  }, message.seconds * 1000);
}

function beep(seconds) {
  if (!phone.audio) return;
  const { context } = phone.audio;
  const tone = context.createOscillator();
  const gain = context.createGain();
  tone.frequency.value = ANNOUNCEMENT_HZ;
  gain.gain.value = 0.1;
  tone.connect(gain).connect(context.destination);
  tone.start();
  tone.stop(context.currentTime + seconds);
}

function onRecording(message) {
  stats.recordings.push(message.url);
  const item = document.createElement("li");
  item.dataset.callId = message.call_id;
  const link = document.createElement("a");
  link.href = message.url;
  link.download = "call-recording.ogg";
  link.textContent = `Recording of your call (${message.seconds} s, OGG/Opus)`;
  const player = document.createElement("audio");
  player.controls = true;
  player.preload = "metadata";
  player.src = message.url;
  item.append(link, player);
  view.recordings.prepend(item);
  while (view.recordings.children.length > 5) view.recordings.lastElementChild.remove();
}

function closeMedia() {
  if (phone.pc) phone.pc.close();
  if (phone.stream) phone.stream.getTracks().forEach((track) => track.stop());
  if (phone.audio && phone.audio.source) {
    phone.audio.source.disconnect();
    phone.audio.source = null;
  }
  phone.pc = null;
  phone.sender = null;
  phone.stream = null;
  view.remote.srcObject = null;
  stats.connection = "closed";
  stats.heardHz = null;
  stats.level = 0;
  view.level.value = 0;
  view.heard.textContent = "nothing";
}

// -- the keypad: keys go to the business as RFC 4733 telephone-events ------------------------

function dtmfSender() {
  const sender = phone.sender;
  return stats.state === "in-call" && phone.pc && sender && sender.dtmf
    && sender.dtmf.canInsertDTMF ? sender.dtmf : null;
}

function updateKeypad() {
  const ready = dtmfSender() !== null;
  if (ready === stats.keypad && view.keys[0].disabled === !ready) return;
  stats.keypad = ready;
  view.keypad.dataset.ready = String(ready);
  for (const key of view.keys) key.disabled = !ready;
}

function press(key) {
  const dtmf = dtmfSender();
  if (!dtmf || !KEYS.includes(key)) return;
  try {
    // insertDTMF replaces the tones still waiting: keep them, so fast presses all go out.
    dtmf.insertDTMF(dtmf.toneBuffer + key, TONE_MS, GAP_MS);
  } catch (error) {
    showProblem(`The keypress did not go out: ${error.message}`);
    return;
  }
  stats.pressed += key;
  view.pressed.textContent = `You pressed ${stats.pressed}`;
}

// -- what the page shows -------------------------------------------------------------------

function setState(key, text) {
  stats.state = key;
  document.body.dataset.state = key;
  view.state.textContent = text;
  const idle = key === "idle";
  view.call.hidden = !idle;
  view.answer.hidden = key !== "incoming";
  view.decline.hidden = key !== "incoming";
  view.hangup.hidden = idle || key === "incoming" || key === "ending";
  if (idle) stats.callId = null;
  if (SETTING_UP.has(key)) {
    stats.pressed = "";
    view.pressed.textContent = KEYPAD_HINT;
  }
  updateKeypad();
  for (const tap of view.messages.querySelectorAll("[data-action=tap]")) tap.disabled = !idle;
  if (idle && document.activeElement === document.body) view.call.focus();
  if (key === "in-call" && document.activeElement !== view.hangup) view.hangup.focus();
}

function showProblem(text) {
  stats.errors.push(text);
  view.problem.textContent = text;
  view.problem.hidden = false;
}

function hideProblem() {
  stats.noBot = null;
  view.problem.hidden = true;
}

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

setInterval(() => {
  view.timer.textContent = phone.connectedAt === null
    ? "" : clock((Date.now() - phone.connectedAt) / 1000);
  updateKeypad(); // canInsertDTMF has no event of its own
}, 500);

function onMessage(message) {
  view.noMessages.hidden = true;
  const item = document.createElement("li");
  item.dataset.messageId = message.message_id;
  item.dataset.kind = message.kind;
  const kind = document.createElement("p");
  kind.className = "kind";
  kind.textContent = {
    call_permission_request: "Asks to call you",
    voice_call: "Call button",
  }[message.kind] || "Message";
  const text = document.createElement("p");
  text.textContent = message.text || "(no text)";
  item.append(kind, text);
  const buttons = document.createElement("div");
  buttons.className = "buttons";
  if (message.kind === "call_permission_request") {
    const choices = [
      ["Accept", "go", true, false, "You accepted calls for 7 days"],
      ["Always accept", "", true, true, "You accepted calls permanently"],
      ["Reject", "stop", false, false, "You rejected calls"],
    ];
    for (const [label, style, accept, permanent, done] of choices) {
      const button = addButton(buttons, label, style, `${label}: calls from the business`);
      button.dataset.action = permanent ? "always" : accept ? "accept" : "reject";
      button.addEventListener("click", () => {
        try {
          send({ type: "permission", accept, permanent });
        } catch (error) {
          showProblem(error.message);
          return;
        }
        buttons.replaceChildren(answered(done));
      });
    }
  } else if (message.kind === "voice_call") {
    const button = addButton(buttons, message.button, "go", `${message.button}: call the business`);
    button.dataset.action = "tap";
    button.disabled = stats.state !== "idle";
    button.addEventListener("click", () => {
      placeCall({ type: "tap", message_id: message.message_id });
    });
  }
  if (buttons.childElementCount) item.append(buttons);
  view.messages.prepend(item);
}

function addButton(parent, label, style, description) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = label;
  button.setAttribute("aria-label", description);
  if (style) button.className = style;
  parent.append(button);
  return button;
}

function answered(text) {
  const note = document.createElement("p");
  note.className = "answered";
  note.textContent = text;
  return note;
}

function onLog(entry) {
  const row = view.log.insertRow(0);
  const failed = !/^(2\d\d|recorded)/.test(entry.status);
  if (failed) row.className = "failed";
  const time = new Date(entry.time * 1000).toLocaleTimeString([], { hour12: false });
  for (const value of [time, entry.direction, entry.operation, entry.status]) {
    row.insertCell().textContent = value;
  }
  while (view.log.rows.length > LOG_ROWS) view.log.deleteRow(-1);
}

view.call.addEventListener("click", () => placeCall({ type: "call" }));
view.answer.addEventListener("click", answerCall);
view.decline.addEventListener("click", declineCall);
view.hangup.addEventListener("click", hangUp);
for (const key of view.keys) key.addEventListener("click", () => press(key.dataset.key));
document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
  if (event.key.length !== 1 || !KEYS.includes(event.key) || !dtmfSender()) return;
  event.preventDefault();
  press(event.key);
});
setState("idle", "Idle");
connect();
