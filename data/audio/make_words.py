"""Make the bundled spoken words: `python data/audio/make_words.py` (needs espeak-ng on PATH).

Each word is spoken by espeak-ng (`espeak-ng -v en-us -p 50 -s 150 --stdout WORD`, its default
22.05 kHz output), resampled to 16 kHz mono 16-bit with course_lib's Fourier resampler, trimmed
to the part above −40 dB of its peak (plus 50 ms each side) and saved as data/audio/WORD.wav.
espeak-ng's output differs slightly between versions; these files were made with 1.51.
"""

import subprocess
from pathlib import Path

import numpy as np

from course_lib.data.audio_clips import SAMPLE_RATE, read_wav, resample, wav_bytes

WORDS = ["yes", "no", "up", "down", "left", "right", "stop", "go"]
HERE = Path(__file__).resolve().parent


def speak(word, voice="en-us", pitch=50, speed=150):
    cmd = ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "--stdout", word]
    wave, rate = read_wav(subprocess.run(cmd, check=True, capture_output=True).stdout)
    return resample(wave, rate, SAMPLE_RATE)


def trim(x, floor_db=-40.0, pad=800):
    loud = np.flatnonzero(np.abs(x) > np.abs(x).max() * 10 ** (floor_db / 20))
    return x[max(loud[0] - pad, 0): loud[-1] + pad]


def main():
    for word in WORDS:
        x = trim(speak(word))
        (HERE / f"{word}.wav").write_bytes(wav_bytes(0.9 * x / np.abs(x).max()))


if __name__ == "__main__":
    main()
