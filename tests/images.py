"""Image files for the folder-tree tests: solid-colour JPEGs and the broken files a real
download leaves behind."""

import io

from PIL import Image


def jpeg(colour, mode="RGB"):
    """The bytes of a 40x30 solid-colour JPEG (mode "CMYK" or "L" for the odd encodings)."""
    out = io.BytesIO()
    Image.new("RGB", (40, 30), colour).convert(mode).save(out, "JPEG", quality=95)
    return out.getvalue()


def write_broken_images(rejected, odd, bad_header="zz_bad_header.JPEG"):
    """Writes into folder `rejected` three files the listing scan rejects (empty.JPEG, text.JPEG,
    truncated.JPEG) and into folder `odd` three odd files that decode (png_named.JPEG, a PNG;
    cmyk.JPEG; gray.JPEG) and `bad_header`, whose corrupt header only decoding finds."""
    (rejected / "empty.JPEG").write_bytes(b"")
    (rejected / "text.JPEG").write_text("<html>404 not found</html>")
    (rejected / "truncated.JPEG").write_bytes(jpeg((255, 0, 0))[:300])
    odd.mkdir(parents=True, exist_ok=True)
    png = io.BytesIO()
    Image.new("RGB", (40, 30), (255, 0, 0)).save(png, "PNG")
    (odd / "png_named.JPEG").write_bytes(png.getvalue())
    (odd / "cmyk.JPEG").write_bytes(jpeg((255, 0, 0), mode="CMYK"))
    (odd / "gray.JPEG").write_bytes(jpeg((255, 0, 0), mode="L"))
    good = jpeg((255, 0, 0))
    (odd / bad_header).write_bytes(good[:2] + b"\xff\xc0\x00\x02" + good[6:])
