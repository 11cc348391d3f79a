#!/usr/bin/env python3
"""Derives golden ProductDiscovered data from the recorded CDSE OData pages.

The ingestor's Rust mapping must produce exactly these values (its tests compare them), and the
trigger's tests evaluate rules against them: one independent statement of the mapping, checked
from both sides. Run from anywhere: python3 testdata/products/generate.py
"""
import json
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
PAGES = HERE.parent / "fixtures" / "cdse-odata"
FEED = "cdse"
BASE_URL = "https://catalogue.dataspace.copernicus.eu/odata/v1"
PACKAGING = (".SAFE.zip", ".SAFE", ".SEN3", ".zip")


def product_key(name):
    for suffix in PACKAGING:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def discovered(entity):
    attributes = {a["Name"]: a["Value"] for a in entity.get("Attributes", [])}
    platform = attributes.get("platformShortName")
    serial = attributes.get("platformSerialIdentifier")
    return {
        "key": product_key(entity["Name"]),
        "feed_id": entity["Id"],
        "name": entity["Name"],
        "collection": platform,
        "product_type": attributes["productType"],
        "platform": f"{platform}{serial}" if platform and serial else platform,
        "sensing_start": entity["ContentDate"]["Start"],
        "sensing_end": entity["ContentDate"]["End"],
        "published_at": entity["PublicationDate"],
        "footprint": entity.get("GeoFootprint"),
        "size": entity.get("ContentLength"),
        "checksums": [{"algorithm": c["Algorithm"], "value": c["Value"]} for c in entity.get("Checksum", [])],
        "s3_uri": "s3:/" + entity["S3Path"] if entity.get("S3Path") else None,
        "href": f"{BASE_URL}/Products({entity['Id']})/$value",
        "attributes": attributes,
        "feed": FEED,
    }


def main():
    for old in HERE.glob("*.json"):
        old.unlink()
    for page in sorted(PAGES.glob("*_products_*.json")):
        for entity in json.loads(page.read_text())["value"]:
            product = discovered(entity)
            (HERE / f"{product['key']}.json").write_text(json.dumps(product, indent=2) + "\n")


if __name__ == "__main__":
    main()
