/* The 🔔 button: a short generated beep (two tones, no audio file) for each new red
 * alert, off by default and remembered in localStorage. A browser plays sound only after
 * a click or key on the page (or when its autoplay policy allows it): remembered as on,
 * the first click or key on the page lets it play. */

import { els } from "./dom.js";
import { t } from "./texts.js";

const SOUND_KEY = "supervisor.wall.sound";
/** Alerts beep at most once this often (a burst after a reconnect is one beep). */
const BEEP_GAP_MS = 3000;

let soundOn = false;
let audio = null;
let lastBeep = -Infinity;
let beeps = 0;

function storedFlag(key) {
  try {
    return localStorage.getItem(key) === "on";
  } catch {
    return false;
  }
}

/** The page's AudioContext, made on first need. */
function audioContext() {
  if (audio) return audio;
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return null;
  try {
    audio = new Context();
    audio.onstatechange = showSound;
  } catch {
    audio = null;
  }
  return audio;
}

function soundState() {
  if (!soundOn) return "off";
  return audio && audio.state === "running" ? "on" : "blocked";
}

export function showSound() {
  const state = soundState();
  els.sound.dataset.sound = state;
  els.sound.dataset.beeps = String(beeps);
  els.sound.setAttribute("aria-pressed", String(soundOn));
  els.sound.title = t().sound[state];
  els.sound.setAttribute("aria-label", t().sound[state]);
}

/** Resume the context on a user gesture (when the sound is on). */
function unlockAudio() {
  if (!soundOn) return;
  const context = audioContext();
  if (context && context.state === "suspended") context.resume().then(showSound, () => {});
  showSound();
}

/** Two short tones (880 Hz, 660 Hz). `forAlert`: at most once every BEEP_GAP_MS. */
export function beep(forAlert) {
  if (soundState() !== "on") return;
  if (forAlert) {
    const now = performance.now();
    if (now - lastBeep < BEEP_GAP_MS) return;
    lastBeep = now;
    beeps += 1;
  }
  const context = audio;
  const start = context.currentTime + 0.02;
  [[0, 880], [0.24, 660]].forEach(([offset, frequency]) => {
    const oscillator = context.createOscillator();
    const gain = context.createGain();
    oscillator.type = "sine";
    oscillator.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, start + offset);
    gain.gain.exponentialRampToValueAtTime(0.35, start + offset + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.2);
    oscillator.connect(gain).connect(context.destination);
    oscillator.onended = () => {
      oscillator.disconnect();
      gain.disconnect();
    };
    oscillator.start(start + offset);
    oscillator.stop(start + offset + 0.22);
  });
  showSound();
}

function toggle() {
  soundOn = !soundOn;
  try {
    localStorage.setItem(SOUND_KEY, soundOn ? "on" : "off");
  } catch {
    // Not remembered; switched all the same.
  }
  if (soundOn) {
    const context = audioContext(); // made and resumed in the click: allowed to play
    if (context) {
      context.resume().then(() => {
        showSound();
        beep(false); // so the person at the wall hears what it will sound like
      }, () => showSound());
    }
  }
  showSound();
}

/** The button, and the first gesture that lets a remembered sound play. */
export function setUpSound() {
  soundOn = storedFlag(SOUND_KEY);
  els.sound.addEventListener("click", toggle);
  document.addEventListener("pointerdown", unlockAudio, true);
  document.addEventListener("keydown", unlockAudio, true);
}

/** A sound remembered as on: plays at once where the autoplay policy allows it. */
export function startSound() {
  if (soundOn) audioContext();
  showSound();
}
