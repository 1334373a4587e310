using Gatehouse.Pipeline;

namespace Gatehouse.Pipeline.Tests;

public sealed class SecretTextTests
{
    [Theory]
    [InlineData("ALTER ROLE agent PASSWORD 'hunter2'", "ALTER ROLE agent PASSWORD '[redacted]'")]
    [InlineData("create user x with encrypted password E'a\\'b' login", "create user x with encrypted password '[redacted]' login")]
    [InlineData("ALTER USER x PASSWORD 'it''s secret' VALID UNTIL 'infinity'", "ALTER USER x PASSWORD '[redacted]' VALID UNTIL 'infinity'")]
    [InlineData("ALTER ROLE x PASSWORD $p$sec'ret$p$", "ALTER ROLE x PASSWORD '[redacted]'")]
    [InlineData("ALTER ROLE app_read PASSWORD'NoSpaceSecret1'", "ALTER ROLE app_read PASSWORD'[redacted]'")]
    [InlineData("ALTER ROLE app_read PASSWORD/**/'CommentSecret2'", "ALTER ROLE app_read PASSWORD/**/'[redacted]'")]
    [InlineData("ALTER ROLE app_read PASSWORD U&'UnicodeSecret3'", "ALTER ROLE app_read PASSWORD '[redacted]'")]
    [InlineData("ALTER ROLE a PASSWORD -- why\n 'LineSecret4'", "ALTER ROLE a PASSWORD -- why\n '[redacted]'")]
    [InlineData("select dblink_connect('host=db password=s3cret dbname=x')", "select dblink_connect('host=db password=[redacted] dbname=x')")]
    [InlineData("select dblink_connect('password = s3cret')", "select dblink_connect('password = [redacted]')")]
    [InlineData("ALTER ROLE x PASSWORD ''", "ALTER ROLE x PASSWORD '[redacted]'")]
    [InlineData("ALTER ROLE x PASSWORD '' VALID UNTIL 'infinity'", "ALTER ROLE x PASSWORD '[redacted]' VALID UNTIL 'infinity'")]
    [InlineData("ALTER ROLE x PASSWORD '''quoted'", "ALTER ROLE x PASSWORD '[redacted]'")]
    [InlineData("ALTER ROLE x PASSWORD 'unterminated", "ALTER ROLE x PASSWORD '[redacted]'")]
    public void Passwords_are_redacted(string sql, string recorded) => Assert.Equal(recorded, SecretText.Scrub(sql));

    [Theory]
    [InlineData("DO $$BEGIN EXECUTE 'ALTER ROLE mallory PASSWORD ''Pw-do-24'''; END$$", "DO $$BEGIN EXECUTE 'ALTER ROLE mallory PASSWORD ''[redacted]'''; END$$")]
    [InlineData("SELECT query_to_xml('ALTER ROLE mallory PASSWORD ''Pw-q2x-21''', true, true, '')", "SELECT query_to_xml('ALTER ROLE mallory PASSWORD ''[redacted]''', true, true, '')")]
    [InlineData("SELECT query_to_xml('ALTER ROLE m PASSWORD ''Pw''''s-secret'' LOGIN', true, true, '')", "SELECT query_to_xml('ALTER ROLE m PASSWORD ''[redacted]'' LOGIN', true, true, '')")]
    [InlineData("DO 'BEGIN EXECUTE ''ALTER ROLE m PASSWORD ''''Pw-level3'''' ''; END'", "DO 'BEGIN EXECUTE ''ALTER ROLE m PASSWORD ''''[redacted]'''' ''; END'")]
    [InlineData("SELECT 'ALTER ROLE m PASSWORD '' Pw-spaced-9'''", "SELECT 'ALTER ROLE m PASSWORD ''[redacted]'''")]
    [InlineData("DO $$BEGIN EXECUTE 'ALTER ROLE m PASSWORD ''Pw-1'''; EXECUTE 'ALTER ROLE n PASSWORD ''Pw-2'''; END$$", "DO $$BEGIN EXECUTE 'ALTER ROLE m PASSWORD ''[redacted]'''; EXECUTE 'ALTER ROLE n PASSWORD ''[redacted]'''; END$$")]
    public void A_password_in_a_nested_literal_is_redacted(string sql, string recorded)
    {
        Assert.Equal(recorded, SecretText.Scrub(sql));
        Assert.DoesNotContain("Pw", SecretText.Scrub(sql), StringComparison.Ordinal);
    }

    private const string Jwt = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImRldiJ9.eyJzdWIiOiJhZ2VudCIsImdyb3VwcyI6ImFpLWFnZW50cyJ9.c2lnbmF0dXJlLWJ5dGVzLWhlcmU";

    [Theory]
    [InlineData("SELECT 'Bearer " + Jwt + "'", "SELECT 'Bearer [redacted]'")]
    [InlineData("SELECT '" + Jwt + "'::text AS t", "SELECT '[redacted]'::text AS t")]
    [InlineData("token=" + Jwt + ".", "token=[redacted]")]
    [InlineData("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "[redacted]")]
    public void Tokens_are_redacted(string text, string recorded) => Assert.Equal(recorded, SecretText.Scrub(text));

    [Theory]
    [InlineData("SELECT * FROM customers WHERE id = 1")]
    [InlineData("SELECT password_hint FROM users")]
    [InlineData("select 'no secrets here'")]
    [InlineData("SELECT 'eyJ' || 'abc', 'keyJar.x.y', 'eyJabc.def'")]
    [InlineData("SELECT 'the password is stored hashed'")]
    public void Other_text_is_unchanged(string sql) => Assert.Equal(sql, SecretText.Scrub(sql));
}
