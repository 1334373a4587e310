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
    public void Passwords_are_redacted(string sql, string recorded) => Assert.Equal(recorded, SecretText.Scrub(sql));

    [Theory]
    [InlineData("SELECT * FROM customers WHERE id = 1")]
    [InlineData("SELECT password_hint FROM users")]
    [InlineData("select 'no secrets here'")]
    public void Other_text_is_unchanged(string sql) => Assert.Equal(sql, SecretText.Scrub(sql));
}
