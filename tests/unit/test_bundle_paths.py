"""Server path tokens, Windows globs and Windows <-> bundle paths (bundle_paths.py)."""

import os

import pytest

from exchange_remediation.bundle_paths import (
    BundleIndex,
    ServerPaths,
    bundle_to_windows,
    expand_tokens,
    glob_folder,
    glob_regex,
    match_paths,
    normalise_windows_path,
    windows_to_bundle,
)

V15 = "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\"


def _touch(root, relative, data=b"x"):
    path = os.path.join(root, *relative.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def test_default_tokens_without_server_json():
    tokens = ServerPaths.from_server(None).tokens()
    assert tokens == {
        "<EX>": V15,
        "<SYS>": "C:",
        "<WWW>": "C:\\inetpub\\wwwroot",
        "<IISLOG>": "C:\\inetpub\\logs\\LogFiles",
        "<WINDIR>": "C:\\Windows",
        "<PROGRAMDATA>": "C:\\ProgramData",
    }


def test_install_path_from_server_json_gets_a_trailing_backslash():
    server = {"exchange": {"install_path": "D:/Exchange Server/V15", "exsetup_version": "15.02.1748.049"}}
    paths = ServerPaths.from_server(server)
    assert paths.major == 15
    assert paths.tokens()["<EX>"] == "D:\\Exchange Server\\V15\\"
    # Exchange on D: does not move inetpub.
    assert paths.tokens()["<WWW>"] == "C:\\inetpub\\wwwroot"


def test_exchange_2010_defaults_to_v14():
    paths = ServerPaths.from_server({"exchange": {"exsetup_version": "14.03.0513.000"}})
    assert paths.major == 14
    assert paths.tokens()["<EX>"] == "C:\\Program Files\\Microsoft\\Exchange Server\\V14\\"


@pytest.mark.parametrize("server", [{"exchange": "broken"}, {"exchange": {"install_path": 3}}, [], "x"])
def test_damaged_server_json_gives_defaults(server):
    assert ServerPaths.from_server(server).tokens()["<EX>"] == V15


def test_live_tokens_override_the_defaults():
    paths = ServerPaths.from_server(None).with_tokens(
        {"<EX>": "E:\\Exchange\\", "<WWW>": "E:\\sites\\default\\", "<SYS>": "C:", "<IISLOG>": None}
    )
    tokens = paths.tokens()
    assert tokens["<EX>"] == "E:\\Exchange\\"
    assert tokens["<WWW>"] == "E:\\sites\\default"
    assert tokens["<IISLOG>"] == "C:\\inetpub\\logs\\LogFiles"


def test_expand_tokens_is_case_insensitive():
    tokens = ServerPaths.from_server(None).tokens()
    assert expand_tokens("<EX>Logging\\HttpProxy", tokens) == V15 + "Logging\\HttpProxy"
    assert expand_tokens("<www>\\aspnet_client", tokens) == "C:\\inetpub\\wwwroot\\aspnet_client"
    assert expand_tokens("no tokens", tokens) == "no tokens"


def test_windows_and_bundle_paths_both_ways():
    assert windows_to_bundle("C:\\inetpub\\wwwroot\\x.aspx") == "files/C/inetpub/wwwroot/x.aspx"
    assert windows_to_bundle("d:/Exchange Server//V15/a.log") == "files/D/Exchange Server/V15/a.log"
    assert windows_to_bundle("\\\\server\\share\\x") is None
    assert windows_to_bundle("C:\\a\\..\\b") is None
    assert bundle_to_windows("files/C/inetpub/wwwroot/x.aspx") == "C:\\inetpub\\wwwroot\\x.aspx"
    assert bundle_to_windows("files/c") == "C:\\"
    assert bundle_to_windows("eventlogs/Application.jsonl") is None
    assert bundle_to_windows("files/CD/x") is None
    assert normalise_windows_path("c:/a//b") == "C:\\a\\b"


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        (V15 + "Logging\\HttpProxy\\**\\*.log", V15 + "Logging\\HttpProxy\\Ecp\\HttpProxy_2021030306-1.LOG", True),
        (V15 + "Logging\\HttpProxy\\**\\*.log", V15 + "Logging\\HttpProxy\\a\\b\\c.log", True),
        # '**' also matches no folder at all.
        (V15 + "Logging\\HttpProxy\\**\\*.log", V15 + "Logging\\HttpProxy\\top.log", True),
        (V15 + "Logging\\HttpProxy\\**\\*.log", V15 + "Logging\\HttpProxy\\Ecp\\x.log.bak", False),
        ("C:\\inetpub\\logs\\LogFiles\\W3SVC*\\u_ex*.log", "c:\\INETPUB\\logs\\logfiles\\w3svc1\\U_EX210303.LOG", True),
        # '*' stays inside one component.
        ("C:\\inetpub\\logs\\LogFiles\\W3SVC*\\u_ex*.log", "C:\\inetpub\\logs\\LogFiles\\W3SVC1\\o\\u_ex1.log", False),
        ("C:\\inetpub\\wwwroot\\aspnet_client\\?.aspx", "C:\\inetpub\\wwwroot\\aspnet_client\\a.aspx", True),
        ("C:\\inetpub\\wwwroot\\aspnet_client\\?.aspx", "C:\\inetpub\\wwwroot\\aspnet_client\\ab.aspx", False),
        # A trailing backslash names everything below the folder.
        (V15 + "Logging\\OABGeneratorLog\\", V15 + "Logging\\OABGeneratorLog\\x\\OABGenerator20210303-1.LOG", True),
        ("C:\\a[1]\\*.log", "C:\\a[1]\\x.log", True),
    ],
)
def test_glob_regex(pattern, path, expected):
    assert bool(glob_regex(pattern).fullmatch(path)) is expected


def test_glob_folder_is_the_part_before_the_first_wildcard():
    assert glob_folder(V15 + "Logging\\HttpProxy\\**\\*.log") == V15 + "Logging\\HttpProxy"
    assert glob_folder("C:\\inetpub\\logs\\LogFiles\\W3SVC*\\u_ex*.log") == "C:\\inetpub\\logs\\LogFiles"
    assert glob_folder(V15 + "Logging\\OABGeneratorLog\\") == V15 + "Logging\\OABGeneratorLog"


def test_index_matches_case_insensitively_at_every_component(tmp_path):
    bundle = str(tmp_path)
    _touch(bundle, "files/C/program files/MICROSOFT/Exchange Server/v15/Logging/HttpProxy/Ecp/HttpProxy_1.LOG")
    _touch(bundle, "files/C/Program Files/Microsoft/Exchange Server/V15/Logging/HttpProxy/Owa/deep/x.log")
    _touch(bundle, "files/C/Program Files/Microsoft/Exchange Server/V15/Logging/HttpProxy/Owa/x.txt")
    _touch(bundle, "files/c/inetpub/wwwroot/aspnet_client/shell.aspx")
    index = BundleIndex.build(bundle)
    found = index.glob(V15 + "Logging\\HttpProxy\\**\\*.log")
    assert [item.windows_path for item in found] == [
        "C:\\program files\\MICROSOFT\\Exchange Server\\v15\\Logging\\HttpProxy\\Ecp\\HttpProxy_1.LOG",
        "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\Logging\\HttpProxy\\Owa\\deep\\x.log",
    ]
    assert all(os.path.isfile(item.local_path) for item in found)
    assert index.find("C:\\INETPUB\\WWWROOT\\ASPNET_CLIENT\\SHELL.ASPX").size == 1
    assert index.has_folder("C:\\inetpub\\wwwroot\\ASPNET_CLIENT\\")
    assert not index.has_folder("C:\\inetpub\\wwwroot\\missing")
    assert index.warnings == []


def test_index_of_a_bundle_without_files(tmp_path):
    index = BundleIndex.build(str(tmp_path))
    assert index.files == {}
    assert index.glob("C:\\**\\*") == []


def test_index_never_follows_links_out_of_the_bundle(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.log").write_bytes(b"ServerInfo~")
    bundle = tmp_path / "bundle"
    _touch(str(bundle), "files/C/logs/real.log")
    _touch(str(bundle), "files/C/other/target.log")
    os.symlink(outside / "secret.log", bundle / "files" / "C" / "logs" / "escape.log")
    os.symlink(outside, bundle / "files" / "C" / "logs" / "linked-folder")
    os.symlink(bundle / "files" / "C" / "other" / "target.log", bundle / "files" / "C" / "logs" / "inside.log")
    _touch(str(bundle), "files/notadrive/x.log")
    index = BundleIndex.build(str(bundle))
    names = sorted(item.windows_path for item in index.glob("C:\\logs\\**\\*.log"))
    assert names == ["C:\\logs\\inside.log", "C:\\logs\\real.log"]
    assert any("escape.log" in warning and "out of the bundle" in warning for warning in index.warnings)
    assert any("linked-folder" in warning and "not followed" in warning for warning in index.warnings)
    assert any("notadrive" in warning for warning in index.warnings)


def test_match_paths_for_listing_entries():
    paths = ["C:\\inetpub\\wwwroot\\aspnet_client\\a.ASPX", "C:\\inetpub\\wwwroot\\web.config"]
    assert match_paths(paths, ["C:\\inetpub\\wwwroot\\**\\*.aspx"]) == [paths[0]]
