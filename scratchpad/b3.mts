import { blake3Hex } from "../src/fathom/blake3.js"
const enc = new TextEncoder()
console.log(blake3Hex(enc.encode("")) === "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262", blake3Hex(enc.encode("")))
console.log(blake3Hex(enc.encode("abc")))
// official test vector input: bytes i % 251, length 1025 and 2049 etc
const v = (n: number) => Uint8Array.from({ length: n }, (_, i) => i % 251)
for (const n of [1, 1023, 1024, 1025, 2048, 2049, 3072, 3073, 4096, 5121, 8193]) console.log(n, blake3Hex(v(n)))
