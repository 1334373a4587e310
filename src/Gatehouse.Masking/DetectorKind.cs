namespace Gatehouse.Masking;

/// <summary>Content detectors; a set of them is a combination of flags. See docs/masking.md, "Detectors".</summary>
[Flags]
public enum DetectorKind : byte
{
    None = 0,
    Email = 1,
    CreditCard = 2,
    Ssn = 4,
    Phone = 8,
    Iban = 16,
    Secret = 32,
    All = Email | CreditCard | Ssn | Phone | Iban | Secret,
}

/// <summary>The policy's names for detectors (<c>email</c>, <c>credit_card</c>, <c>ssn</c>, <c>phone</c>, <c>iban</c>, <c>secret</c>).</summary>
public static class DetectorNames
{
    public static bool TryParse(string? name, out DetectorKind kind)
    {
        kind = name switch
        {
            "email" => DetectorKind.Email,
            "credit_card" => DetectorKind.CreditCard,
            "ssn" => DetectorKind.Ssn,
            "phone" => DetectorKind.Phone,
            "iban" => DetectorKind.Iban,
            "secret" => DetectorKind.Secret,
            _ => DetectorKind.None,
        };
        return kind != DetectorKind.None;
    }

    /// <summary>The set named by <paramref name="names"/>; false with the first unknown name in <paramref name="error"/>.</summary>
    public static bool TryParse(IEnumerable<string> names, out DetectorKind kinds, out string? error)
    {
        ArgumentNullException.ThrowIfNull(names);
        kinds = DetectorKind.None;
        error = null;
        foreach (var name in names)
        {
            if (!TryParse(name, out var kind))
            {
                error = $"unknown detector '{name}' (expected email, credit_card, ssn, phone, iban or secret)";
                kinds = DetectorKind.None;
                return false;
            }

            kinds |= kind;
        }

        return true;
    }

    /// <summary>The policy name of a single detector.</summary>
    public static string Name(DetectorKind kind) => kind switch
    {
        DetectorKind.Email => "email",
        DetectorKind.CreditCard => "credit_card",
        DetectorKind.Ssn => "ssn",
        DetectorKind.Phone => "phone",
        DetectorKind.Iban => "iban",
        DetectorKind.Secret => "secret",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "not a single detector"),
    };

    /// <summary>The marker a redacted match becomes: <c>[redacted:credit_card]</c>. No character of it needs quoting
    /// in JSON strings, array or composite literals, or XML.</summary>
    internal static ReadOnlySpan<byte> Marker(DetectorKind kind) => kind switch
    {
        DetectorKind.Email => "[redacted:email]"u8,
        DetectorKind.CreditCard => "[redacted:credit_card]"u8,
        DetectorKind.Ssn => "[redacted:ssn]"u8,
        DetectorKind.Phone => "[redacted:phone]"u8,
        DetectorKind.Iban => "[redacted:iban]"u8,
        _ => "[redacted:secret]"u8,
    };
}
