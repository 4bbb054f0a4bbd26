"""青山县, the demo's fictional county: its divisions, its agencies, the people its cases are about."""

from __future__ import annotations

from typing import Any

COUNTY = "339901"  # fictional: 33 is Zhejiang, 99 no real prefecture
TOWNSHIP = f"{COUNTY}001"
VILLAGE = f"{TOWNSHIP}001"

AGENCIES: dict[str, dict[str, str]] = {
    "prison": {"agency_id": "zj-prison-2", "agency_type": "prison", "name": "省第二监狱"},
    "court": {"agency_id": "qs-court", "agency_type": "court", "name": "青山县人民法院"},
    "tribunal": {"agency_id": "qs-tribunal-1", "agency_type": "tribunal", "name": "青山人民法庭"},
    "police_station": {"agency_id": "qs-ps-1", "agency_type": "police_station", "name": "青山镇派出所"},
    "judicial_office": {"agency_id": "qs-jo-1", "agency_type": "judicial_office", "name": "青山镇司法所"},
    "judicial_bureau": {"agency_id": "qs-jb", "agency_type": "judicial_bureau", "name": "青山县司法局"},
    "civil_affairs": {"agency_id": "qs-ca", "agency_type": "civil_affairs", "name": "青山县民政局"},
    "procuratorate": {"agency_id": "qs-proc", "agency_type": "procuratorate", "name": "青山县人民检察院"},
    "petition_office": {"agency_id": "qs-xf", "agency_type": "petition_office", "name": "青山县信访局"},
    "service_body": {"agency_id": "qs-notary", "agency_type": "service_body", "name": "青山县公证处"},
    "reconsideration_office": {
        "agency_id": "qs-recon",
        "agency_type": "service_body",
        "name": "青山县人民政府行政复议办公室",
    },
    "enforcement_supervision": {
        "agency_id": "qs-enforce",
        "agency_type": "service_body",
        "name": "青山县行政执法协调监督局",
    },
    "corrections_agency": {
        "agency_id": "qs-jb-corrections",
        "agency_type": "judicial_bureau",
        "name": "青山县社区矫正管理局",
    },
    # Of the other county, for a change of execution place (变更执行地).
    "baiyun_corrections_agency": {
        "agency_id": "by-jb-corrections",
        "agency_type": "judicial_bureau",
        "name": "白云县社区矫正管理局",
    },
    # Legal aid (法律援助): the county's centre, and the public security's custody facility (看守所).
    "legal_aid_centre": {
        "agency_id": "qs-jb-legalaid",
        "agency_type": "judicial_bureau",
        "name": "青山县法律援助中心",
    },
    "police": {"agency_id": "qs-psb", "agency_type": "police", "name": "青山县公安局"},
}
NAMES = ["王建国", "李秀英", "张伟", "刘洋", "陈静", "杨帆", "赵磊", "黄敏", "周杰", "吴芳"]

# A scripted step: (event type, publishing agency by its kind in `AGENCIES`, days after the case
# starts, fields the step sets).
Step = tuple[str, str, float, dict[str, Any]]
