import pytest

from lmkiln.tasks.clean.pii import Span, entropy, find, redact
from lmkiln.tasks.config.clean import PiiConfig

GITHUB_TOKEN = "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEpAIBAAKCAQEAwJ0tKq9e1LxYt4mP0fFzj0Q1Zk7dX0YpQ3b9fU2rTq8=\n"
    "-----END RSA PRIVATE KEY-----"
)


def test_every_kind_replaced_with_its_placeholder_and_counted():
    text = (
        f"Mail jane.doe@gmail.com from 93.184.216.34 or 2606:4700:4700::1111, "
        f"call +44 20 7946 0958, token {GITHUB_TOKEN}."
    )
    redacted, counts = redact(text)
    assert redacted == (
        "Mail <EMAIL> from <IP_ADDRESS> or <IP_ADDRESS>, call <PHONE>, token <SECRET>."
    )
    assert counts == {"email": 1, "ip_address": 2, "phone": 1, "secret": 1}


def test_config_chooses_the_kinds():
    text = "jane@gmail.com 93.184.216.34"
    assert redact(text, PiiConfig(email=False)) == (
        "jane@gmail.com <IP_ADDRESS>",
        {"ip_address": 1},
    )
    off = PiiConfig(email=False, ip_address=False, phone=False, secret=False)
    assert redact(text, off) == (text, {})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bob+news@mail.co.uk.", "<EMAIL>."),
        ("<tim.peters@gmail.com>", "<<EMAIL>>"),
        ("author_email='gward@python.net'", "author_email='<EMAIL>'"),
        ("see user@example.com, a@b.example.org, x@host.test", None),  # reserved for examples
        ("@decorator, a @ b, user@localhost, name@domain", None),
        ("git+ssh://host/repo@v1.2.3", None),
    ],
)
def test_emails(text, expected):
    assert redact(text)[0] == (expected or text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("from 93.184.216.34:80", "from <IP_ADDRESS>:80"),
        ("http://151.101.1.69/path", "http://<IP_ADDRESS>/path"),
        ("2001:4860:4860::8888", "<IP_ADDRESS>"),
        # private, loopback, link-local, shared, documentation, multicast ranges stay
        ("10.0.0.1 127.0.0.1 169.254.1.1 192.168.1.1 100.64.0.1 203.0.113.7 224.0.0.251", None),
        ("::1 fe80::1 2001:db8::1 3fff::1 fc00::1", None),
        # versions, section numbers, OIDs, slices, times
        ("zlib 1.2.3.4, 4.8.3.1. Recap, OID 1.3.6.1, Firefox/2.0.0.11, 3.14.1.0", None),
        ("1.2.3.4.5 10.0.19041.1234 novas-3.1.1.3.tar.gz 1.0.0.127.in-addr.arpa", None),
        ("a[1::2], 12:30:45, 2023:01:15, std::vector, 2002::/16", None),
        ("999.1.1.1 256.100.100.100", None),
    ],
)
def test_ip_addresses(text, expected):
    assert redact(text)[0] == (expected or text)


@pytest.mark.parametrize(
    "number",
    [
        "+1 (415) 555-0132",
        "+44 20 7946 0958",
        "+33 1 23 45 67 89",
        "+49 (0)30 1234567",
        "+14155552671",
        "(212) 555-0182",
        "212-555-0182",
        "212.555.0182",
        "1-800-555-0199",
        "01 23 45 67 89",
        "01.23.45.67.89",
        "030 1234 5678",
        "(030) 1234567",
        "030/12345678",
        "07700 900123",
        "06-12345678",
    ],
)
def test_phone_numbers(number):
    assert redact(f"Call {number} today.") == ("Call <PHONE> today.", {"phone": 1})


def test_tel_link():
    assert redact("tel:2125550182") == ("tel:<PHONE>", {"phone": 1})


@pytest.mark.parametrize(
    "text",
    [
        "2023-01-15 10:30:00, 15.01.2023, 01/02/2023, 01.02.2023 10",
        "version 3.11.4, v2.0.1, 1.2.3-rc1, 10.0.19041.1234",
        "0x7fffffff 0xDEADBEEF 0o755 0755 0644 0600",
        "123e4567-e89b-12d3-a456-426614174000",
        "1234567890 1700000000 3.14159265358979",
        "0 1 1 2 3 5 8 13 21 34 55 89 144 233 377 610 987 1597",
        "combinations --> 012 013 023 123",
        "ZIP 03894-4801, ISBN 978-0-306-40615-7, 0-306-40615-2",
        "123-456-7890 (555) 123-4567",  # no North American exchange starts with 0 or 1
        "x+12345678 f(2) 345 6789",
    ],
)
def test_no_phone_in_numbers_that_are_not_phones(text):
    assert redact(text) == (text, {})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("AKIAIOSFODNN7EXAMPLE", "<SECRET>"),
        (f"token: {GITHUB_TOKEN}", "token: <SECRET>"),
        ("github_pat_" + "A1b2C3d4E5" * 6, "<SECRET>"),
        ("xoxb-1234567890-abcdefghij", "<SECRET>"),
        ("https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXX", "<SECRET>"),
        ("key=AIza" + "Sy" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", "key=<SECRET>"),
        ("sk-proj-" + "a1B2c3D4e5F6g7H8" + "T3BlbkFJ" + "z9Y8x7W6v5U4t3S2", "<SECRET>"),
        ("sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", "<SECRET>"),
        ("hf_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZaBcDeFgH", "<SECRET>"),
        (f"Authorization: Bearer {JWT}", "Authorization: Bearer <SECRET>"),
        (f"key:\n{PEM}\ndone", "key:\n<SECRET>\ndone"),
    ],
)
def test_tokens_and_keys(text, expected):
    redacted, counts = redact(text)
    assert redacted == expected
    assert counts == {"secret": 1}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("api_key = 'sk3Jd9fL2qPz8Xw1'", "api_key = '<SECRET>'"),
        ('{"password": "9fK2#mQ!z", "user": "x"}', '{"password": "<SECRET>", "user": "x"}'),
        ("PASSWORD=Tr0ub4dor&3", "PASSWORD=<SECRET>"),
        ("db_password: s3cr3tP@ss", "db_password: <SECRET>"),
        ("apiKey: 'Zx8-Qw3_Lp9!Rt'", "apiKey: '<SECRET>'"),
        (
            "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYzz",
            "AWS_SECRET_ACCESS_KEY=<SECRET>",
        ),
        ("client_secret := 'Q2x9-LmP4-zR7t'", "client_secret := '<SECRET>'"),
    ],
)
def test_secret_assignments_keep_the_name(text, expected):
    assert redact(text) == (expected, {"secret": 1})


@pytest.mark.parametrize(
    "text",
    [
        "password: hunter2",  # too short to tell from a word
        "password = 'mypassword'",  # one kind of character
        "pwd: 'Password'",
        "token = tokenize.generate_tokens(readline)",
        "passwd=getpass.getpass()",
        "secret_key = settings.SECRET_KEY",
        "api_key = os.environ['API_KEY']",
        "password: str = 'changeme123'",
        "api_key='your-api-key-here'",
        "token = '${GITHUB_TOKEN}'",
        "password='<password>'",
        "tokenizer = 'AbCdEfGh123'",  # not a secret-sounding name
        "author = 'Guido van Rossum'",
        "-----BEGIN RSA PRIVATE KEY-----\n... (private key in base64) ...\n"
        "-----END RSA PRIVATE KEY-----",
        "-----BEGIN CERTIFICATE-----",
    ],
)
def test_not_secrets(text):
    assert redact(text) == (text, {})


def test_value_of_a_rejected_assignment_is_still_scanned():
    text = "token_url = 'https://93.184.216.34/auth'"
    assert redact(text) == ("token_url = 'https://<IP_ADDRESS>/auth'", {"ip_address": 1})


def test_find_gives_spans_without_overlap():
    text = "secret_contact=jane.doe@gmail.com 93.184.216.34"
    assert find(text) == [Span(15, 33, "secret"), Span(34, 47, "ip_address")]


def test_entropy():
    assert entropy("aaaaaaaa") == 0
    assert entropy("abcdefgh") == 3
