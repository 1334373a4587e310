using System.Data;
using Gatehouse.Credentials;
using Gatehouse.Pipeline.Masking;
using Gatehouse.Policy.Model;
using Gatehouse.Protocol;
using Gatehouse.Sql;
using Npgsql;
using Npgsql.Schema;

namespace Gatehouse.Commands;

/// <summary>One result column a mask would change: its name, what is done to it, and the rule or reason.</summary>
internal sealed record MaskedColumn(string Column, string With, string Why);

/// <summary>A mask rule that may apply to a relation a statement reads (the catalog could not be read).</summary>
internal sealed record RelationMask(string Relation, string Pattern, string With);

/// <summary>What the grant's masks would do to one statement's results.</summary>
internal sealed record StatementMaskReport
{
    /// <summary>Bound through the upstream catalog: the result columns that would be masked or redacted.</summary>
    public IReadOnlyList<MaskedColumn>? Columns { get; init; }

    /// <summary>Without the catalog: the rules whose table part matches a relation the statement reads.</summary>
    public IReadOnlyList<RelationMask>? ByRelation { get; init; }

    /// <summary>Why nothing could be bound, or why the gateway would refuse the result.</summary>
    public string? Note { get; init; }
}

/// <summary>The masks part of <c>policy explain</c>: per statement, bound to result columns or listed by relation.</summary>
internal sealed record MaskReport(bool Bound, bool Offline, string? Unreachable, IReadOnlyList<StatementMaskReport> Statements, IReadOnlyList<string> Detectors, string? DetectWith)
{
    public static MaskReport None { get; } = new(false, false, null, [], [], null);

    private static readonly StatementMaskReport NoRows = new();

    /// <summary>
    /// Binds the grant's masks to each statement's result columns through the target's catalog, as the gateway
    /// does (<see cref="StatementMasks"/>), after describing each statement upstream without running it. When the
    /// upstream cannot be reached (or <paramref name="offline"/>), lists the rules that match relations read.
    /// </summary>
    public static async Task<MaskReport> BuildAsync(
        Grant grant, CredentialTarget target, string sql, IReadOnlyList<StatementFacts> statements, bool offline, CancellationToken ct)
    {
        if (MaskRules.For(grant) is not { } rules)
        {
            return None;
        }

        string? unreachable = null;
        if (!offline && rules.HasColumnRules)
        {
            try
            {
                await using var source = new UpstreamCatalogSource(target);
                return await BindAsync(rules, new RelationCatalog(source), target, sql, statements, ct);
            }
            catch (Exception ex) when (ex is CatalogUnavailableException or NpgsqlException or TimeoutException or IOException
                                       or InvalidOperationException or UnauthorizedAccessException or ArgumentException)
            {
                unreachable = ex.Message.ReplaceLineEndings(" ");
            }
        }

        var each = statements.Select(s => ReturnsRows(s) ? new StatementMaskReport { ByRelation = ByRelation(rules, s), Note = Unlisted(s) } : NoRows).ToList();
        return new MaskReport(false, offline, unreachable, each, rules.Detectors, rules.DetectWith);
    }

    private static async Task<MaskReport> BindAsync(
        MaskRules rules, RelationCatalog catalog, CredentialTarget target, string sql, IReadOnlyList<StatementFacts> statements, CancellationToken ct)
    {
        var masks = await StatementMasks.ForAsync(rules, catalog, statements, ct, sql);
        var builder = target.ProvisionerDataSource("gatehouse-explain", maxPoolSize: 1, commandTimeoutSeconds: 10);
        builder.UsePasswordProvider(_ => target.ProvisionerPassword(), (_, _) => ValueTask.FromResult(target.ProvisionerPassword()));
        await using var dataSource = builder.Build();
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var each = new List<StatementMaskReport>();
        for (int i = 0; i < statements.Count; i++)
        {
            var facts = statements[i];
            if (!ReturnsRows(facts) || facts.Class == StatementClass.CopyOut)
            {
                // COPY out is not described (the gateway masks its stream by column or refuses it): its rules by relation.
                each.Add(ReturnsRows(facts) ? new StatementMaskReport { ByRelation = ByRelation(rules, facts), Note = Unlisted(facts) } : NoRows);
                continue;
            }

            var (columns, error) = await DescribeAsync(connection, sql.Substring(facts.Start, facts.Length), ct);
            if (columns is null)
            {
                each.Add(new StatementMaskReport { ByRelation = ByRelation(rules, facts), Note = $"the server cannot describe it: {error}" + (Unlisted(facts) is { } more ? "; " + more : "") });
                continue;
            }

            var plan = await masks.BindAsync(columns, ct, i);
            var masked = new List<MaskedColumn>();
            for (int c = 0; c < columns.Length; c++)
            {
                var column = plan.Columns[c];
                if (column.Action == ColumnAction.Mask)
                {
                    masked.Add(new MaskedColumn(columns[c].Name, column.With!, $"rule {column.Rule}"));
                }
                else if (column.Action == ColumnAction.Redact)
                {
                    masked.Add(new MaskedColumn(columns[c].Name, "redact", $"untraceable, and the statement {masks.TaintReason ?? "reads masked data"}"));
                }
            }

            each.Add(new StatementMaskReport
            {
                Columns = masked,
                Note = masks.Laundering is { } laundering ? "the gateway refuses it: " + laundering
                    : plan.Denied is { } denied ? "the gateway refuses the result: " + denied : null,
            });
        }

        return new MaskReport(true, false, null, each, rules.Detectors, rules.DetectWith);
    }

    /// <summary>
    /// The statement's RowDescription, from Parse and Describe only (SchemaOnly sends no Execute), inside a read-only
    /// transaction that is rolled back: explaining a statement never runs it.
    /// </summary>
    private static async Task<(ResultColumn[]? Columns, string? Error)> DescribeAsync(NpgsqlConnection connection, string text, CancellationToken ct)
    {
        try
        {
            await using var transaction = await connection.BeginTransactionAsync(ct);
            await using (var readOnly = new NpgsqlCommand("SET TRANSACTION READ ONLY", connection, transaction))
            {
                await readOnly.ExecuteNonQueryAsync(ct);
            }

            await using var batch = new NpgsqlBatch(connection, transaction) { BatchCommands = { new NpgsqlBatchCommand(text) } };
            ResultColumn[] columns;
            await using (var reader = await batch.ExecuteReaderAsync(CommandBehavior.SchemaOnly, ct))
            {
                var schema = await reader.GetColumnSchemaAsync(ct);
                columns = [.. schema.Cast<NpgsqlDbColumn>().Select(c => new ResultColumn(c.ColumnName, c.TableOID, c.ColumnAttributeNumber ?? 0, c.TypeOID, 0))];
            }

            await transaction.RollbackAsync(ct);
            return (columns, null);
        }
        catch (PostgresException ex)
        {
            return (null, $"{ex.SqlState}: {ex.MessageText}");
        }
    }

    private static List<RelationMask> ByRelation(MaskRules rules, StatementFacts facts) =>
    [
        .. facts.ReadRelations.Concat(facts.WrittenRelations).Distinct()
            .SelectMany(name => rules.RulesFor(name.Schema, name.Name).Select(r => new RelationMask(name.ToString(), r.Pattern, r.With))),
    ];

    /// <summary>Statements whose results masks apply to; DDL, settings and the like return no rows of a table.</summary>
    private static bool ReturnsRows(StatementFacts facts) => facts.Class is StatementClass.Read or StatementClass.Write or StatementClass.CopyOut;

    private static string? Unlisted(StatementFacts facts) =>
        facts.ReadsUnlistedRelations ? "it also reads tables it does not name: any column rule may apply" : null;
}
