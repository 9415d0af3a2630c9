"""Text → token ids for CLIP's text encoder: a word-level tokenizer and CLIP's byte-level BPE.

Both return a `(B, context_length)` LongTensor laid out as OpenAI's CLIP expects:

    [<start_of_text>, t1, t2, ..., tn, <end_of_text>, 0, 0, ...]

with `<end_of_text>` the largest id of the vocabulary, so the text encoder can find it with
`tokens.argmax(-1)` and pool the feature at that position. Texts too long are cut, and the last
kept position is replaced by `<end_of_text>`.

- `WordTokenizer`: one id per word from a small fixed vocabulary (ShapesWorld captions need ~40
  words); the embedding table stays tiny, so the bundled model stays a few MB.
- `BPETokenizer`: CLIP's 49,408-token byte-level byte-pair encoding (Radford et al. 2021, after
  GPT-2), written from scratch over the merges file OpenAI released (bundled in data/tokenizer/).
  Its ids equal OpenAI's / open_clip's tokenizer.
"""

import gzip
import html
import unicodedata
from functools import lru_cache
from pathlib import Path

import torch

DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "tokenizer"
MERGES_FILE = DATA_DIR / "bpe_simple_vocab_16e6.txt.gz"
SOT, EOT = "<start_of_text>", "<end_of_text>"


def pack_ids(id_lists, context_length, sot_id, eot_id):
    """Lay out lists of ids as `[sot, ids..., eot, 0, ...]`, cut to `context_length`.

    Returns:
        (B, context_length) LongTensor; a cut text keeps `eot` in its last position.
    """
    out = torch.zeros(len(id_lists), context_length, dtype=torch.long)
    for row, ids in enumerate(id_lists):
        ids = [sot_id, *ids, eot_id]
        if len(ids) > context_length:
            ids = ids[:context_length]
            ids[-1] = eot_id  # the encoder pools at <end_of_text>: it must survive the cut
        out[row, : len(ids)] = torch.tensor(ids)
    return out


# ---------------------------------------------------------------------------------------------
# Word level
# ---------------------------------------------------------------------------------------------


class WordTokenizer:
    """Whole words from a fixed list; anything else becomes `<unk>`.

    Ids: 0 = padding, 1 = `<unk>`, then the words, then `<start_of_text>` and `<end_of_text>`
    (the largest id, as CLIP's pooling expects).
    """

    def __init__(self, words, context_length=16):
        self.words = list(dict.fromkeys(w.lower() for w in words))  # unique, order kept
        vocab = ["<pad>", "<unk>", *self.words, SOT, EOT]
        self.encoder = {w: i for i, w in enumerate(vocab)}
        self.decoder = vocab
        self.vocab_size = len(vocab)
        self.context_length = context_length
        self.sot_token_id, self.eot_token_id = self.encoder[SOT], self.encoder[EOT]

    @staticmethod
    def split(text):
        """Lower-case words and digits; punctuation and spaces separate them."""
        cleaned = "".join(c if c.isalnum() else " " for c in text.lower())
        return cleaned.split()

    def encode(self, text):
        return [self.encoder.get(w, 1) for w in self.split(text)]

    def decode(self, ids):
        return " ".join(self.decoder[i] for i in ids if 1 <= i < self.sot_token_id)

    def __call__(self, texts, context_length=None):
        texts = [texts] if isinstance(texts, str) else texts
        ids = [self.encode(t) for t in texts]
        return pack_ids(ids, context_length or self.context_length, self.sot_token_id, self.eot_token_id)


# ---------------------------------------------------------------------------------------------
# Byte-level BPE (CLIP)
# ---------------------------------------------------------------------------------------------


@lru_cache
def bytes_to_unicode():
    """A reversible map from the 256 byte values to 256 printable characters.

    BPE merges strings, and the merges file is text: bytes that print as themselves (`!`..`~`,
    `¡`..`¬`, `®`..`ÿ`) keep their character, the other 68 (spaces, controls) are moved to
    chr(256), chr(257), ... so no token ever contains a raw space or control character.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    mapping = {b: chr(b) for b in printable}  # the order of this dict is the vocabulary's order
    mapping.update({b: chr(256 + n) for n, b in enumerate(others)})
    return mapping


# The text clean-up OpenAI's tokenizer runs first (through the `ftfy` package): the parts of it
# that change ordinary text, written out here so the kit does not need ftfy.
_QUOTES = {**{c: "'" for c in [0x02BC, *range(0x2018, 0x201C)]}, **{c: '"' for c in range(0x201C, 0x2020)}}
_LIGATURES = {"Ĳ": "IJ", "ĳ": "ij", "ŉ": "ʼn", "Ǳ": "DZ", "ǲ": "Dz", "ǳ": "dz", "Ǆ": "DŽ", "ǅ": "Dž",
              "ǆ": "dž", "Ǉ": "LJ", "ǈ": "Lj", "ǉ": "lj", "Ǌ": "NJ", "ǋ": "Nj", "ǌ": "nj", "ﬀ": "ff",
              "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "ſt", "ﬆ": "st"}
_CONTROL = [*range(0x00, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F, *range(0x206A, 0x2070), 0xFEFF,
            *range(0xFFF9, 0xFFFD)]


@lru_cache
def _cleanup_table():
    """One `str.translate` table: curly quotes → straight, ligatures split, full-width → normal
    width, invisible control characters dropped."""
    table = {0x3000: " "}  # ideographic space
    for code in range(0xFF01, 0xFFF0):  # full- and half-width forms
        normal = unicodedata.normalize("NFKC", chr(code))
        if normal != chr(code):
            table[code] = normal
    table.update({ord(k): v for k, v in _LIGATURES.items()})
    table.update(_QUOTES)
    table.update({c: None for c in _CONTROL})
    return table


def clean_text(text):
    """CLIP's text normalization: fix typography, unescape HTML, collapse spaces, lower-case.

    (OpenAI's ftfy step also repairs mojibake such as "cafÃ©"; that repair is not reproduced.)
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", text.translate(_cleanup_table()))
    text = html.unescape(html.unescape(text))
    return " ".join(text.split()).lower()


def _char_kind(c):
    """'L' letter, 'N' number, 'S' space, 'P' anything else (punctuation, symbols, emoji)."""
    if c.isspace():
        return "S"
    cat = unicodedata.category(c)[0]
    return cat if cat in "LN" else "P"


CONTRACTIONS = ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d")


def pre_tokenize(text):
    """Split cleaned text into words before BPE: the rule of CLIP's regular expression

        <start_of_text> | <end_of_text> | 's|'t|'re|'ve|'m|'ll|'d | letters+ | one digit | other+

    tried in that order at each position; spaces only separate.
    """
    pieces, i = [], 0
    while i < len(text):
        kind = _char_kind(text[i])
        match = next((s for s in (SOT, EOT, *CONTRACTIONS) if text.startswith(s, i)), None)
        if match:
            end = i + len(match)
        elif kind == "S":
            i += 1
            continue
        elif kind == "N":
            end = i + 1  # numbers are split digit by digit
        else:
            end = i + 1
            while end < len(text) and _char_kind(text[end]) == kind:
                end += 1
        pieces.append(text[i:end])
        i = end
    return pieces


def load_merges(path=MERGES_FILE):
    """The 48,894 merges CLIP uses, as (left, right) pairs in order of priority."""
    lines = gzip.open(path, "rt", encoding="utf-8").read().split("\n")
    n_merges = 49408 - 256 * 2 - 2  # vocabulary = 256 bytes + 256 bytes-at-word-end + merges + 2
    return [tuple(line.split()) for line in lines[1 : 1 + n_merges]]  # line 0 is a version header


class BPETokenizer:
    """CLIP's byte-level BPE tokenizer: 49,408 ids, context 77.

    text → clean_text → pre_tokenize → UTF-8 bytes as characters → merge pairs by rank → ids.
    The last symbol of each word carries `</w>`, so "red" at the end of a word and "red" inside
    "redo" are different tokens.
    """

    def __init__(self, merges_path=MERGES_FILE, context_length=77):
        if not Path(merges_path).exists():
            raise FileNotFoundError(f"BPE merges file {merges_path} is missing; restore data/tokenizer/ "
                                    "from the repository.")
        merges = load_merges(merges_path)
        byte_chars = list(bytes_to_unicode().values())
        vocab = [*byte_chars, *(c + "</w>" for c in byte_chars), *("".join(m) for m in merges), SOT, EOT]
        self.encoder = {token: i for i, token in enumerate(vocab)}
        self.decoder = vocab
        self.ranks = {pair: rank for rank, pair in enumerate(merges)}
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {c: b for b, c in self.byte_encoder.items()}
        self.vocab_size = len(vocab)
        self.context_length = context_length
        self.sot_token_id, self.eot_token_id = self.encoder[SOT], self.encoder[EOT]
        self._cache = {}

    def bpe(self, word):
        """Merge a word's symbols, always the adjacent pair of lowest rank first, until none is
        in the merges table. Returns the final symbols."""
        if word in self._cache:
            return self._cache[word]
        symbols = [*word[:-1], word[-1] + "</w>"]
        while len(symbols) > 1:
            pairs = list(zip(symbols, symbols[1:]))
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            symbols = self._merge(symbols, best)
        self._cache[word] = symbols
        return symbols

    @staticmethod
    def _merge(symbols, pair):
        """Replace every non-overlapping occurrence of `pair`, left to right."""
        out, i = [], 0
        while i < len(symbols):
            if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
                out.append(symbols[i] + symbols[i + 1])
                i += 2
            else:
                out.append(symbols[i])
                i += 1
        return out

    def encode(self, text):
        """Token ids of one text, without start/end tokens."""
        ids = []
        for piece in pre_tokenize(clean_text(text)):
            if piece in (SOT, EOT):
                ids.append(self.encoder[piece])
                continue
            word = "".join(self.byte_encoder[b] for b in piece.encode("utf-8"))
            ids.extend(self.encoder[s] for s in self.bpe(word))
        return ids

    def decode(self, ids):
        """Ids back to text (spaces where words ended); special tokens and padding are dropped."""
        symbols = "".join(self.decoder[i] for i in ids if 0 < i < self.sot_token_id)
        words = symbols.split("</w>")  # (a word's bytes as characters) per word
        data = [bytearray(self.byte_decoder[c] for c in w).decode("utf-8", errors="replace") for w in words]
        return " ".join(w for w in data if w)

    def __call__(self, texts, context_length=None):
        texts = [texts] if isinstance(texts, str) else texts
        ids = [self.encode(t) for t in texts]
        return pack_ids(ids, context_length or self.context_length, self.sot_token_id, self.eot_token_id)
